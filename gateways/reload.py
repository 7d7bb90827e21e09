"""``serve --reload`` and ``worker --reload``: for development, as uvicorn's ``--reload``
and Django's ``runserver`` do.

This process (the reloader) never imports the application: it runs the same command
again in a child process (with ``--no-reload``) and, when a ``.py`` file under the
watched directories changes, stops the child as SIGTERM does (the grace period
applies) and starts a new one. A child that fails (a syntax error in the code being
edited) is reported and started again on the next change. SIGTERM or SIGINT stops the
child, then the reloader, with the child's exit status (0 after a clean stop); SIGHUP
restarts the child at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from watchfiles import PythonFilter, watch

from gateways.config import ConfigError

log = logging.getLogger("gateways.reload")

#: How often the reloader looks at its child between changes (milliseconds).
POLL_MS = 500
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: a reloader killed outright (SIGKILL) takes its child
    with it instead of leaving it holding the ports (Linux only; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Reloader:
    """One child at a time, restarted on changes; see the module's docstring."""

    def __init__(self, argv: Sequence[str], dirs: Sequence[str], grace: float) -> None:
        self.command = [sys.executable, "-m", "gateways", *argv, "--no-reload"]
        self.dirs = [Path(d).resolve() for d in (dirs or ["."])]
        self.grace = grace
        self.stopping = threading.Event()
        self.restart_asked = False
        self.child: subprocess.Popen[bytes] | None = None
        self.reported = False  # the child's own exit was logged already

    def start(self) -> None:
        self.child = subprocess.Popen(self.command, preexec_fn=_die_with_parent)
        self.reported = False
        log.info("reloader: started the %s process (pid %d)", self.command[3], self.child.pid)

    def stop_child(self) -> int:
        """SIGTERM the child and wait for it, killing it past its grace period. A child
        still starting dies of the signal itself: that is a clean stop too (0)."""
        child = self.child
        if child is None or child.poll() is not None:
            return 0
        child.send_signal(signal.SIGTERM)
        try:
            code = child.wait(self.grace + 5.0)
        except subprocess.TimeoutExpired:
            log.warning(
                "reloader: pid %d did not stop within its grace period; killing it", child.pid
            )
            child.kill()
            code = child.wait()
        if code == -signal.SIGTERM:
            return 0
        return 128 - code if code < 0 else code  # as a shell reports a death by signal

    def restart(self, why: str) -> None:
        log.info("reloading: %s", why)
        self.stop_child()
        if not self.stopping.is_set():
            self.start()

    def check_child(self) -> None:
        """Say once when the child ended by itself; the next change starts it again."""
        child = self.child
        if child is not None and not self.reported and child.poll() is not None:
            self.reported = True
            log.warning(
                "reloader: the %s process exited with status %d; waiting for a change",
                self.command[3],
                child.returncode,
            )

    def _signalled(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.restart_asked = True
        else:
            log.info("reloader: received %s", signal.Signals(signum).name)
            self.stopping.set()

    def run(self) -> int:
        watcher_log = logging.getLogger("watchfiles")  # "1 change detected", said again below
        if watcher_log.level == logging.NOTSET:
            watcher_log.setLevel(logging.WARNING)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._signalled)
        shown = ", ".join(str(d) for d in self.dirs)
        log.info("reloader: watching .py files under %s (pid %d)", shown, os.getpid())
        self.start()
        changes_seen = watch(
            *self.dirs,
            watch_filter=PythonFilter(),
            stop_event=self.stopping,
            rust_timeout=POLL_MS,
            yield_on_timeout=True,
            raise_interrupt=False,
        )
        for changes in changes_seen:
            if changes:
                self.restart(
                    ", ".join(sorted(self._shown(path) for _, path in changes)) + " changed"
                )
            elif self.restart_asked:
                self.restart_asked = False
                self.restart("SIGHUP")
            else:
                self.check_child()
        return self.stop_child()

    def _shown(self, path: str) -> str:
        """A changed file, relative to the directory watched when it is under one."""
        for directory in self.dirs:
            with contextlib.suppress(ValueError):
                return str(Path(path).relative_to(directory))
        return path


def run_reloading(argv: Sequence[str], dirs: Sequence[str], grace: float) -> int:
    """Run ``gateways ARGV`` under the reloader until SIGTERM or SIGINT."""
    missing = [d for d in dirs if not Path(d).is_dir()]
    if missing:
        raise ConfigError(f"--reload-dir: no such directory {missing[0]!r}")
    return Reloader(argv, dirs, grace).run()
