"""Reading what the server sends, so that no line it sends can drop the link.

The ``irc`` package parses each line and raises on some it does not expect: a
``PRIVMSG`` without text, a numeric without parameters, even a valid RFC 1459
``QUIT`` without a reason. Raised inside ``data_received``, that closes the
transport, loses the rest of the read, and a server that keeps sending such lines
keeps the bot reconnecting. Here each line is handled on its own: one that cannot be
handled is skipped (logged escaped and rate-limited) and the next one goes on.

The line buffer is bounded too: an IRC line is 512 bytes, plus at most 8191 bytes of
IRCv3 message tags. A longer line is discarded as it arrives, up to its end of line,
instead of being held, so one endless line cannot grow the bot's memory.

The library's parser stays in charge; the seam is :meth:`AioConnection.process_data`
(what its protocol calls with each read) and its ``buffer_class``. The private
``_process_line`` and ``_handle_other`` this leans on are checked by
``tests/irc/test_compat.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from irc.client_aio import AioConnection, AioReactor
from jaraco.stream import buffer

from gateways.plugin import Throttled, printable

log = logging.getLogger("gateways.irc")

#: Longest line kept (bytes, CR LF excluded): 512 for the line, 8191 for IRCv3 tags.
MAX_LINE = 8191 + 512


class BoundedLineBuffer(buffer.LineBuffer):
    """Complete lines out, decoded as UTF-8 (Latin-1 when not UTF-8); a line longer
    than :data:`MAX_LINE` is dropped and counted in ``overlong``."""

    limit = MAX_LINE
    buffer: bytes

    def __init__(self) -> None:
        super().__init__()
        self.skipping = False  # inside an over-long line: drop bytes up to its LF
        self.overlong = 0  # lines dropped since the owner last looked

    def feed(self, data: bytes) -> None:
        if self.skipping:
            end = data.find(b"\n")
            if end < 0:
                return
            data = data[end + 1 :]
            self.skipping = False
        self.buffer += data
        start = self.buffer.rfind(b"\n") + 1  # the unfinished last line (its CR may be in)
        if len(self.buffer) - start > self.limit + 1:
            self.buffer = self.buffer[:start]
            self.skipping = True
            self.overlong += 1

    def lines(self) -> Iterator[str]:
        for line in super().lines():
            if len(line) > self.limit:  # complete, but arrived in one read
                self.overlong += 1
                continue
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                yield line.decode("latin-1")


class Connection(AioConnection):
    """The library's asyncio connection, surviving any line the server sends."""

    buffer_class = BoundedLineBuffer
    label = "irc"  # the network's name in log lines (set by its client)
    warn = Throttled(log)  # rate-limited warnings (its client gives it its own)

    def process_data(self, new_data: bytes) -> None:
        self.buffer.feed(new_data)
        for line in self.buffer:
            if line:
                self._handle_line(line)
        if self.buffer.overlong:
            self.warn.warning(
                f"{self.label} overlong",
                "%s: discarded %d line(s) from the server longer than %d bytes",
                self.label,
                self.buffer.overlong,
                MAX_LINE,
            )
            self.buffer.overlong = 0

    def _handle_line(self, line: str) -> None:
        try:
            self._process_line(line)
        except Exception as exc:  # the library's parser or a handler choked on it
            self.warn.warning(
                f"{self.label} bad line",
                "%s: skipped a line from the server that could not be handled (%s: %s): %s",
                self.label,
                type(exc).__name__,
                printable(str(exc)),
                printable(line),
            )
            log.debug("%s: how that line failed", self.label, exc_info=True)

    def _handle_other(self, arguments: Any, command: str, source: Any, tags: Any) -> None:
        if command == "quit" and not arguments:  # RFC 1459: the reason is optional
            arguments = [""]
        super()._handle_other(arguments, command, source, tags)


class Reactor(AioReactor):
    connection_class = Connection
