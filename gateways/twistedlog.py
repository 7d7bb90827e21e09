"""Twisted's own errors in the process log.

Twisted reports what it catches (a protocol's ``dataReceived`` that raised, an unhandled
error in a Deferred) to ``twisted.logger``, which ``gateways serve`` never read: the
connection was dropped and the traceback kept in a buffer nobody sees. This observer
hands every event of level error or critical to the ``twisted`` logger, with its
traceback; lesser events (autobahn's per-connection notes) stay where they were.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, cast

log = logging.getLogger("twisted")


def forward(event: dict[str, Any]) -> None:
    """A Twisted log observer: errors and criticals to :data:`log`."""
    from twisted.logger import LogLevel, formatEvent

    level = event.get("log_level")
    if level not in (LogLevel.error, LogLevel.critical):
        return
    failure = event.get("log_failure")
    exc_info = None
    if failure is not None:
        exc_info = (failure.type, failure.value, failure.getTracebackObject())
    text = formatEvent(event) or (failure.getErrorMessage() if failure is not None else "")
    where = event.get("log_namespace", "twisted")
    log.log(
        logging.CRITICAL if level == LogLevel.critical else logging.ERROR,
        "%s: %s",
        where,
        text,
        exc_info=exc_info,
    )


@contextlib.contextmanager
def forwarding() -> Iterator[None]:
    """Forward Twisted's errors to logging while inside."""
    from twisted.logger import ILogObserver, globalLogPublisher

    observer = cast(ILogObserver, forward)  # a plain callable is an observer
    globalLogPublisher.addObserver(observer)
    try:
        yield
    finally:
        globalLogPublisher.removeObserver(observer)
