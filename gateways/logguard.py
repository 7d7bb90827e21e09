"""Keeping the log readable when clients misbehave.

A flood (one IRC user, thousands of full-queue drops) must not write thousands of
WARNING lines, and bytes a client sent must not reach the log raw: a control
character or an ANSI escape in a log line rewrites the operator's terminal, a
newline forges a log entry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Longest client text quoted in a log line; the rest is summarised by its length.
QUOTE_LIMIT = 200


def _escape(byte: int) -> str:
    char = chr(byte)
    if " " <= char <= "~" and char != "\\":
        return char
    return {"\r": "\\r", "\n": "\\n", "\t": "\\t", "\\": "\\\\"}.get(char, f"\\x{byte:02x}")


_ESCAPED = [_escape(byte) for byte in range(256)]


def printable(data: bytes | str, limit: int = QUOTE_LIMIT) -> str:
    """``data`` as one safe log token: control characters, backslashes and
    non-ASCII bytes escaped (``\\x1b``, ``\\r``), cut at ``limit`` characters with the
    full length said, so nothing a client sends can forge or colour a log line."""
    if isinstance(data, str):
        if len(data) <= limit and data.isascii() and data.isprintable() and "\\" not in data:
            return data  # nothing to escape: the common case, one pass in C
        data = data.encode("utf-8", "backslashreplace")
    text = "".join(_ESCAPED[byte] for byte in data[:limit])
    if len(data) > limit:
        text += f"... ({len(data)} bytes)"
    return text


@dataclass
class _Window:
    started: float
    suppressed: int = 0


@dataclass
class Throttled:
    """At most one record per ``key`` every ``interval`` seconds; the next record
    after a quiet spell says how many were left out in between.

    ``log.warning("irc", "send queue full, dropped %s", line)`` writes the first
    drop at once, then one line a minute ending ``(and 9,835 more like it)``.
    """

    logger: logging.Logger
    interval: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, _Window] = field(default_factory=dict)

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        """Log unless ``key`` logged within ``interval``; True when written."""
        now = self.clock()
        window = self._windows.get(key)
        if window is not None and now - window.started < self.interval:
            window.suppressed += 1
            return False
        if window is not None and window.suppressed:
            msg = f"{msg} (and {window.suppressed:,} more like it in the last {self.interval:g} s)"
        self._windows[key] = _Window(now)
        if len(self._windows) > 1024:
            self._forget_quiet(now)
        self.logger.log(level, msg, *args)
        return True

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def info(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.INFO, key, msg, *args)

    def error(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.ERROR, key, msg, *args)

    def _forget_quiet(self, now: float) -> None:
        """Bound the table: keys (peers, channels) come and go."""
        for key in [k for k, w in self._windows.items() if now - w.started >= self.interval]:
            del self._windows[key]
