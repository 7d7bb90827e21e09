"""Saying so when listeners cannot accept connections.

At the file-descriptor limit, Twisted's TCP and UNIX ports close each new connection
at once (``EMFILE``) and asyncio's servers stop accepting for a second at a time;
Twisted reports it only to its own log (which ``gateways serve`` never read), asyncio
with a traceback a second. Clients see refused or reset connections and the operator's
log shows nothing. :func:`watching` puts one :class:`AcceptWatch` behind both, for every
plugin's listeners: a rate-limited WARNING naming the limit while accepts fail, an INFO
once they can succeed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from gateways.logguard import Throttled

log = logging.getLogger("gateways.host")

#: What Twisted's ``Port.doRead`` logs when ``accept(2)`` fails (twisted/internet/tcp.py).
TWISTED_REFUSED = "EMFILE recovery: Closed socket from {address}"
TWISTED_FAILED = "Could not accept new connection ({acceptError})"
#: What asyncio's ``_accept_connection`` hands the loop's exception handler.
ASYNCIO_FAILED = "socket.accept() out of system resource"


def nofile_limit() -> int | None:
    """The soft RLIMIT_NOFILE of this process (None where there is no such thing)."""
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def open_fds() -> int | None:
    """File descriptors open now (Linux's /proc; None elsewhere or at the limit)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less listdir's own
    except OSError:
        return None


def fd_available() -> bool:
    """Whether this process could open one more file descriptor now."""
    try:
        os.close(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        return False
    return True


def describe(error: str) -> str:
    """Why accepts fail, and what to change, for the errno name ``error``."""
    if error == "EMFILE":
        return f"too many open files (limit {nofile_limit()}); raise `ulimit -n`"
    if error == "ENFILE":
        return "too many open files in the whole system; raise fs.file-max"
    return f"out of system resources ({error})"


class AcceptWatch:
    """The accept state of this process. :meth:`failed` on every failed accept; while
    accepts fail, a probe checks every ``interval`` seconds for a free descriptor, and
    the first quiet interval with one ends the episode. The WARNING goes through
    :class:`Throttled` (once a minute, with a count); every episode whose WARNING was
    written ends with an INFO."""

    def __init__(
        self,
        interval: float = 1.0,
        probe: Callable[[], bool] = fd_available,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.probe = probe
        self.clock = clock
        self.throttled = Throttled(log, clock=clock)
        self.since: float | None = None  # the episode's start, while accepts fail
        self.last = 0.0  # the latest failure
        self.refused = 0
        self.warned = False
        self._timer: asyncio.TimerHandle | None = None

    @property
    def failing(self) -> bool:
        return self.since is not None

    def failed(self, error: str) -> None:
        """One accept failed with the errno name ``error`` (``EMFILE``, ``ENFILE``...)."""
        now = self.clock()
        if self.since is None:
            self.since, self.refused, self.warned = now, 0, False
            self._later()
        self.last = now
        self.refused += 1
        if self.throttled.warning("accept", "accept failed: %s", describe(error)):
            self.warned = True

    def _later(self) -> None:
        with contextlib.suppress(RuntimeError):  # no loop running: nothing to probe with
            self._timer = asyncio.get_running_loop().call_later(self.interval, self.check)

    def check(self) -> None:
        """The probe: end the episode after a quiet interval with a descriptor free."""
        self._timer = None
        if self.since is None:
            return
        if self.clock() - self.last < self.interval or not self.probe():
            self._later()
            return
        if self.warned:
            log.info(
                "accepting connections again: %d refused in %.1f s (%s of %s file "
                "descriptors in use)",
                self.refused,
                self.last - self.since,
                open_fds(),
                nofile_limit(),
            )
        self.since = None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def twisted_observer(watch: AcceptWatch) -> Callable[[dict[str, Any]], None]:
    """A Twisted log observer that hands accept failures of any Twisted port to ``watch``."""

    def observe(event: dict[str, Any]) -> None:
        namespace = event.get("log_namespace") or ""
        if not (namespace.startswith("twisted.internet.") and namespace.endswith(".Port")):
            return
        text = event.get("log_format")
        if text == TWISTED_REFUSED:
            watch.failed("EMFILE")
        elif text == TWISTED_FAILED:
            watch.failed(str(event.get("acceptError")))

    return observe


def asyncio_handler(watch: AcceptWatch, loop: asyncio.AbstractEventLoop) -> Any:
    """The loop's exception handler, with asyncio's accept failures taken by ``watch``
    (without the traceback asyncio would log every second); all else as before."""
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if context.get("message") == ASYNCIO_FAILED and isinstance(exc, OSError):
            watch.failed(errno.errorcode.get(exc.errno or 0, str(exc.errno)))
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    return handle


@contextlib.contextmanager
def watching(loop: asyncio.AbstractEventLoop) -> Iterator[AcceptWatch]:
    """Watch every listener of this process (Twisted's and asyncio's) while inside."""
    from twisted.logger import ILogObserver, globalLogPublisher

    watch = AcceptWatch()
    observer = cast(ILogObserver, twisted_observer(watch))  # a plain callable is one
    previous = loop.get_exception_handler()
    globalLogPublisher.addObserver(observer)
    loop.set_exception_handler(asyncio_handler(watch, loop))
    try:
        yield watch
    finally:
        loop.set_exception_handler(previous)
        globalLogPublisher.removeObserver(observer)
        watch.close()
