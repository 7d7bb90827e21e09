"""Helpers for testing gateways and its plugins against real processes.

``GatewaysProcess`` runs ``python -m gateways ...`` and lets a test wait for log lines
(never for a fixed time): interfaces log ``listening on SCHEME://HOST:PORT`` once
ready, workers log ``ready, receiving on ...``, the host logs ``gateways ready``.
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
    r"listening on (?P<scheme>[a-z]+)://(?P<host>[^\s:]+|\[[^\]]+\]):(?P<port>\d+)"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (prefer port 0 where possible)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewaysProcess:
    """A ``gateways`` command in a subprocess, with its log lines collected."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        ready: str | None = "gateways ready|ready, receiving on",
        timeout: float = 20.0,
        program: Sequence[str] | None = None,
    ) -> None:
        # ``program`` runs another command the same way (a peer server such as gunicorn).
        self.args = [*(program or (sys.executable, "-m", "gateways")), *args]
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
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 20.0, start: int = 0) -> re.Match[str]:
        """Block until a log line (from index ``start``) matches ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = start
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    found = regex.search(line)
                    if found:
                        return found
                seen = len(self.lines)
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
        """Host and port an interface logged for ``scheme`` (``http``, ``smtp``, ...)."""
        with self._changed:
            for line in self.lines:
                found = _LISTENING.search(line)
                if found and found["scheme"] == scheme:
                    return found["host"].strip("[]"), int(found["port"])
        raise AssertionError(f"no {scheme}:// listener logged:\n{self.output}")

    def signal(self, sig: int = signals.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig: int = signals.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit status (killing the process past ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout, f"of {sig}")

    def wait(self, timeout: float = 30.0, after: str = "") -> int:
        """The exit status, once the process ends by itself (killed past ``timeout``)."""
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

    def __enter__(self) -> GatewaysProcess:
        return self

    def kill(self) -> None:
        """End the process at once, reaping it (for clean-up after a failure)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(5)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()
