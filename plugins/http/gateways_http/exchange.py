"""One request and its response on a connection: where it stands (:class:`State`),
the body on its way in, and the reply messages written back as HTTP/1.1.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Any

from gateways.plugin import Throttled, printable
from gateways_http.body import BodyPump
from gateways_http.request import decode_path, header_value, pass_headers, split_target
from gateways_http.response import (
    FRAMING,
    LAST_CHUNK,
    NO_BODY_STATUS,
    BadResponse,
    check_content,
    check_headers,
    check_status,
    chunk,
    date_header,
    simple_response,
    status_line,
)

if TYPE_CHECKING:
    from gateways_http.conn import ExchangeConn

log = logging.getLogger("gateways.http")
_throttled = Throttled(log)

_KEEP_ALIVE = b"connection: keep-alive\r\n"
_CLOSE = b"connection: close\r\n"
_CHUNKED = b"transfer-encoding: chunked\r\n"


class State(enum.Enum):
    """Where an exchange stands, from the parsed head to the end of its response."""

    #: Not sent to the layer yet: its body (or the first chunk of it) is still coming,
    #: or requests pipelined before it are still being answered.
    RECEIVING = "receiving"
    #: ``http.request`` is sent; no reply has come yet (the reply timeout runs).
    DISPATCHED = "dispatched"
    #: The response has begun on the wire; more of it may follow.
    RESPONDING = "responding"
    #: The response is complete.
    FINISHED = "finished"
    #: The connection ended before the response was complete.
    FAILED = "failed"


# Module names for the hot path: one global lookup instead of an enum class attribute.
RECEIVING = State.RECEIVING
DISPATCHED = State.DISPATCHED
RESPONDING = State.RESPONDING
FINISHED = State.FINISHED
FAILED = State.FAILED


class Exchange:
    """One request (head, body on its way in) and its response (framing, bytes written).

    ``state`` is the exchange's progress; ``received`` is separate because the two
    overlap: a large body is still arriving after ``http.request`` is dispatched, and a
    consumer may answer before the body ends.
    """

    __slots__ = (
        "body",
        "body_size",
        "chunked",
        "close",
        "conn",
        "deadline",
        "dispatched",
        "expect_continue",
        "head",
        "headers",
        "keep_alive",
        "left",
        "method",
        "notify",
        "path",
        "pump",
        "query_string",
        "raw_path",
        "received",
        "reply_channel",
        "sent",
        "state",
        "status",
        "target",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        conn: ExchangeConn,
        method: str,
        version: str,
        keep_alive: bool,
        target: bytes,
        raw_headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.conn = conn
        self.target = target
        self.method = method
        self.version = version
        self.keep_alive = keep_alive
        self.raw_path, self.query_string = split_target(target)
        self.headers = headers = pass_headers(raw_headers)
        self.path = decode_path(self.raw_path)
        self.head = method == "HEAD"
        self.state = RECEIVING
        self.received = False  # the parser has seen the end of the request (body included)
        self.body: list[bytes] = []
        self.body_size = 0
        expect = header_value(headers, b"expect")
        # Owes the client "100 Continue" once first in line (cleared when sent).
        self.expect_continue = expect is not None and expect.lower() == b"100-continue"
        self.reply_channel = ""
        #: Where else to say the client left (a reply's ``notify_disconnect``).
        self.notify: str | None = None
        self.pump: BodyPump | None = None
        self.deadline = 0.0  # when a reply that has not begun is given up (503)
        self.dispatched = 0.0  # when http.request went to the layer (loop time)
        self.upgrade = False  # asked for Connection: upgrade
        self.chunked = False
        self.close = False
        self.left: int | None = None  # bytes still allowed by a declared content-length
        self.status = 0
        self.sent = 0

    # -- the response --------------------------------------------------------------

    def on_reply(self, message: dict[str, Any]) -> None:
        """A reply on the exchange's reply channel: the response's start, or more of it.
        A reply may also ask to hear of a disconnect (``notify_disconnect``: a channel);
        one that asks only that is not part of the response."""
        state = self.state
        notify = message.get("notify_disconnect")
        if isinstance(notify, str):
            self.notify = notify
            if len(message) == 1:
                return
        try:
            if state is DISPATCHED:
                self._start(message)
            elif state is RESPONDING:
                self._more(message)
        except BadResponse as exc:
            _throttled.error(
                "bad reply", "refused a reply to %s %s: %s", self.method, printable(self.path), exc
            )
            if self.state is RESPONDING:
                self.conn.abort()
            else:
                self.fail(500, "the application sent an invalid response")

    def _start(self, message: dict[str, Any]) -> None:
        status = check_status(message.get("status"))
        headers = check_headers(message.get("headers"))
        content = check_content(message.get("content"))
        more = bool(message.get("more_content"))
        self.status = status
        no_body = self.head or status in NO_BODY_STATUS
        close = not self.keep_alive or self.conn.server.interface.draining
        declared: int | None = None
        lines = [status_line(status)]
        has_date = False
        for name, value in headers:
            if name in FRAMING:
                close = close or (name == b"connection" and b"close" in value.lower())
                continue
            if name == b"content-length":
                declared = _length(value)
                if not more and not self.head:
                    continue  # the real length is written below
            elif name == b"date":
                has_date = True
            lines.append(b"%s: %s\r\n" % (name, value))
        if not has_date:
            lines.append(date_header())
        if not more:
            if status not in NO_BODY_STATUS and not (self.head and declared is not None):
                lines.append(b"content-length: %d\r\n" % len(content))
        elif declared is not None:
            self.left = declared
        elif self.version == "1.1" and not no_body:
            self.chunked = True
            lines.append(_CHUNKED)
        elif not no_body:
            close = True  # HTTP/1.0 streaming: the end of the body is the end of the connection
        self.close = close
        lines.append(_CLOSE if close else _KEEP_ALIVE if self.version == "1.0" else b"")
        lines.append(b"\r\n")
        self.state = RESPONDING
        self.deadline = 0.0
        data = self._frame(b"".join(lines), content, no_body)
        if more:
            self.conn.write(data)
        else:
            self.conn.finish(self, data)

    def _more(self, message: dict[str, Any]) -> None:
        if message.get("abort"):
            _throttled.warning(
                "aborted",
                "the application aborted its response to %s %s",
                self.method,
                printable(self.path),
            )
            self.conn.abort()
            return
        content = check_content(message.get("content"))
        no_body = self.head or self.status in NO_BODY_STATUS
        data = self._frame(b"", content, no_body)
        if message.get("more_content"):
            if data:
                self.conn.write(data)
        else:
            self.conn.finish(self, data + LAST_CHUNK if self.chunked else data)

    def _frame(self, head: bytes, content: bytes, no_body: bool) -> bytes:
        """The bytes to write for ``content`` (chunk-framed when chunked), counted."""
        if no_body or not content:
            return head
        if self.left is not None:
            if len(content) > self.left:
                excess = len(content) - self.left
                raise BadResponse(f"content exceeds the declared content-length by {excess}")
            self.left -= len(content)
        self.sent += len(content)
        return head + (chunk(content) if self.chunked else content)

    def fail(self, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        """Answer with a stock response, unless a response has begun (then drop it)."""
        state = self.state
        if state is FINISHED or state is FAILED:
            return
        if state is RESPONDING:
            self.conn.abort()
            return
        self.status = status
        self.state = RESPONDING
        self._answer(status, text, extra or [])

    def _answer(self, status: int, text: str, extra: list[tuple[bytes, bytes]]) -> None:
        """Write a stock response (HTTP/1.1 bytes here; HTTP/2 frames in a subclass)."""
        draining = self.conn.server.interface.draining
        self.close = not self.keep_alive or not self.received or draining
        data = simple_response(status, text, extra, close=self.close, head=self.head)
        self.sent = len(data)
        self.conn.finish(self, data)

    def client_left(self, reason: str) -> None:
        """The connection (or the stream) ended before the response did: the body
        stream ends with ``reason``, and the application hears of it."""
        self.deadline = 0.0
        if self.pump is not None:
            self.pump.abort(reason)
        state = self.state
        if state is not FINISHED:
            self.state = FAILED
        if state is DISPATCHED or state is RESPONDING:
            self.conn.server.disconnected(self)

    def on_timeout(self) -> None:
        if self.state is DISPATCHED:
            log.warning(  # one line per 503, as the access log would say
                "no reply to %s %s within %.0fs: 503",
                self.method,
                printable(self.path),
                self.conn.server.options.http_timeout,
            )
            self.fail(503, "the application did not answer in time")
            self.conn.server.no_worker.timed_out()  # says so once when no worker runs

    def on_worker_lost(self) -> None:
        """The worker running this request died (see gateways.lost): answer now.
        A response already under way is cut, so the client sees it fail."""
        log.warning("the worker running %s %s stopped: 502", self.method, printable(self.path))
        self.fail(502, "the worker running this request stopped; it may have run in part")

    # -- the request body ------------------------------------------------------------

    def take_body(self) -> bytes:
        body = self.body
        if not body:
            return b""
        self.body = []
        return body[0] if len(body) == 1 else b"".join(body)

    def start_pump(self, channel: str) -> BodyPump:
        conn = self.conn
        timeout = conn.server.options.http_timeout
        spawn = conn.server.interface.spawn
        self.pump = BodyPump(
            conn.server.layer, channel, conn.pause_for_body, timeout, spawn, self.body_failed
        )
        return self.pump

    def body_failed(self) -> None:
        """The body could not be delivered (nobody read it, or the layer refused it):
        the request cannot go on."""
        self.fail(503, "the application did not take the request body")

    @property
    def held(self) -> int:
        """Body bytes this exchange holds in the interface."""
        pump = self.pump
        return pump.held if pump is not None else sum(map(len, self.body))


def _length(value: bytes) -> int:
    if not value.isdigit():
        raise BadResponse(f"content-length {value!r} is not a number")
    return int(value)
