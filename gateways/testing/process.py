"""Running ``gateways`` (or any server) in a subprocess, waiting on its log lines.

A test waits for what a process says, never for a fixed time: interfaces log
``listening on SCHEME://HOST:PORT`` once ready, workers log ``ready, receiving on ...``,
the host logs ``gateways ready``.
"""

from __future__ import annotations

import os
import re
import signal as signals
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType

_LISTENING = re.compile(
    r"listening on (?P<scheme>[a-z0-9+]+)://(?P<host>[^\s:/]+|\[[^\]]+\]):(?P<port>\d+)"
)

#: What ``GatewaysProcess`` waits for by default: the host or a worker is ready.
READY = "gateways ready|ready, receiving on"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Prefer asking the server for port 0 and reading the port it logs: a port found free
    here may be taken by another process before the server binds it.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewaysProcess:
    """A ``python -m gateways ARGS`` subprocess (or another ``program``), its output
    collected line by line (stderr included).

    The constructor returns once a line matches ``ready`` (``None``: at once); a process
    that exits or stays silent past ``timeout`` is killed and an ``AssertionError``
    carrying its output is raised.

    Leaving a ``with`` block ends the process as an operator would: SIGTERM, up to
    ``grace`` seconds to exit, then SIGKILL (see :meth:`close`).

    Attributes:
        args: The whole command line that was started.
        proc: The ``subprocess.Popen`` object (``proc.pid``, ``proc.returncode``).
        lines: Every output line so far, without line ends; it grows while the process
            runs. ``len(process.lines)`` is a mark to give :meth:`wait_for` as ``start``.
        grace: Seconds :meth:`close` waits after SIGTERM before killing.
    """

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        ready: str | None = READY,
        timeout: float = 20.0,
        program: Sequence[str] | None = None,
        grace: float = 10.0,
    ) -> None:
        self.args = [*(program or (sys.executable, "-m", "gateways")), *args]
        self.grace = grace
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=cwd,
            text=True,
            errors="replace",
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if ready:
            try:
                self.wait_for(ready, timeout)
            except BaseException:
                self.kill()  # nobody holds this object yet to stop it
                raise

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        """The output so far as one string (``lines`` joined with newlines)."""
        with self._changed:
            return "\n".join(self.lines)

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while the process runs."""
        return self.proc.poll()

    def wait_for(self, pattern: str, timeout: float = 20.0, start: int = 0) -> re.Match[str]:
        """Block until an output line matches the regex ``pattern``; return the match.

        Args:
            pattern: A regular expression, searched in each line.
            timeout: Seconds to wait before raising ``AssertionError``.
            start: Index in :attr:`lines` to look from (``len(process.lines)`` taken
                before an action: only lines logged after it count).
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = start
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    found = regex.search(line)
                    if found:
                        return found
                seen = max(seen, len(self.lines))
                remaining = deadline - time.monotonic()
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(
                        f"process exited ({self.proc.returncode}) before "
                        f"{pattern!r}:\n{self.output}"
                    )
                if remaining <= 0:
                    raise AssertionError(
                        f"no line matched {pattern!r} in {timeout}s:\n{self.output}"
                    )
                self._changed.wait(min(remaining, 0.5))

    def address(self, scheme: str) -> tuple[str, int]:
        """Host and port of the first ``listening on SCHEME://`` line for ``scheme``."""
        with self._changed:
            for line in self.lines:
                found = _LISTENING.search(line)
                if found and found["scheme"] == scheme:
                    return found["host"].strip("[]"), int(found["port"])
        raise AssertionError(f"no {scheme}:// listener logged:\n{self.output}")

    def port(self, scheme: str = "http") -> int:
        """The port an interface logged it listens on for ``scheme`` (``http``, ``smtp``)."""
        return self.address(scheme)[1]

    def url_for(self, scheme: str = "http") -> str:
        """``SCHEME://HOST:PORT`` of that listener (IPv6 hosts in brackets)."""
        host, port = self.address(scheme)
        return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the HTTP listener (see :meth:`url_for` for others)."""
        return self.url_for("http")

    def signal(self, sig: int = signals.SIGTERM) -> None:
        """Send ``sig`` without waiting."""
        self.proc.send_signal(sig)

    def stop(self, sig: int = signals.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and return the exit status; past ``timeout``, kill the process and
        raise ``AssertionError`` (a stop that hangs is a failure)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout, f"of {sig}")

    def wait(self, timeout: float = 30.0, after: str = "") -> int:
        """The exit status once the process ends by itself; past ``timeout`` it is
        killed and ``AssertionError`` raised."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"did not exit within {timeout}s {after}:\n{self.output}"
            ) from None
        self._reader.join(5)
        return code

    def close(self, grace: float | None = None) -> int:
        """End the process whatever it takes: SIGTERM, ``grace`` seconds (default
        :attr:`grace`) to exit, then SIGKILL. Returns the exit status (negative when
        killed by a signal); never raises for a slow process."""
        if self.proc.poll() is None:
            self.proc.send_signal(signals.SIGTERM)
            try:
                self.proc.wait(self.grace if grace is None else grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        code = self.proc.wait()
        self._reader.join(5)
        return code

    def kill(self) -> None:
        """End the process at once with SIGKILL, reaping it (clean-up after a failure)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(5)

    def __enter__(self) -> GatewaysProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
