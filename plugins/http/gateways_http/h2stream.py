"""One HTTP/2 stream as the connection its exchange answers on
(:class:`~gateways_http.conn.ExchangeConn`): the response waiting for flow-control
window, and the request body's acknowledgements held while the body pump is full.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from h2.errors import ErrorCodes

from gateways_http.body import CLOSED
from gateways_http.exchange import FINISHED

if TYPE_CHECKING:
    from gateways_http.exchange import Exchange
    from gateways_http.h2exchange import Fields, H2Exchange
    from gateways_http.h2protocol import H2Protocol
    from gateways_http.request import Address
    from gateways_http.server import HttpServer


class H2Stream:
    """Where one request's response goes. ``exchange`` is None for a request the
    server refused itself (its stock answer still travels through here)."""

    __slots__ = (
        "closed",
        "ending",
        "exchange",
        "head",
        "held",
        "outbox",
        "paused",
        "protocol",
        "received",
        "stream_id",
    )

    def __init__(self, protocol: H2Protocol, stream_id: int) -> None:
        self.protocol = protocol
        self.stream_id = stream_id
        self.exchange: H2Exchange | None = None
        self.head: Fields | None = None  # response header fields not sent yet
        self.outbox = bytearray()  # response body waiting for window
        self.ending = False  # the response's end comes after ``outbox``
        self.received = False  # the client ended its side (the request is whole)
        self.closed = False  # nothing more goes out on this stream
        self.paused = False
        self.held = 0  # body bytes taken in, not yet acknowledged (paused)

    # -- what message.py and the exchange read ----------------------------------------

    @property
    def server(self) -> HttpServer:
        return self.protocol.server

    @property
    def scheme(self) -> str:
        return self.protocol.scheme

    @property
    def client(self) -> Address:
        return self.protocol.client

    @property
    def local(self) -> Address:
        return self.protocol.local

    # -- the response -----------------------------------------------------------------

    def start(self, fields: Fields) -> None:
        """The response's header fields: they go out with the first write."""
        self.head = fields

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        self.outbox += data
        self.protocol.push(self)

    def finish(self, exchange: Exchange, last: bytes = b"") -> None:
        """The response is complete: log it, then send ``last`` and end the stream."""
        exchange.state = FINISHED
        exchange.deadline = 0.0
        if exchange.pump is not None and not exchange.received:
            exchange.pump.abort(CLOSED)
        self.server.finished(exchange)
        self.ending = True
        self.write(last)

    def abort(self) -> None:
        """The response cannot be completed: the stream is reset, so the client sees it
        fail (and the application hears ``http.disconnect``, as for HTTP/1.1)."""
        self.protocol.reset(self, ErrorCodes.INTERNAL_ERROR)

    # -- the request body -------------------------------------------------------------

    def pause_for_body(self, on: bool) -> None:
        """The body pump is full: hold this stream's acknowledgements (its window
        closes, the client stops sending on it; other streams go on)."""
        self.paused = on
        if not on and self.held:
            held, self.held = self.held, 0
            self.protocol.acknowledge(self.stream_id, held)

    def took(self, size: int) -> None:
        """``size`` flow-controlled bytes of body arrived on this stream."""
        if self.paused:
            self.held += size
        else:
            self.protocol.acknowledge(self.stream_id, size)

    # -- the end ----------------------------------------------------------------------

    def gone(self, reason: str) -> None:
        """The stream ended before its response did (reset, or the connection closed):
        the body stream ends with ``reason`` and the application hears of it."""
        self.closed = True
        self.outbox.clear()
        self.head = None
        if self.exchange is not None:
            self.exchange.client_left(reason)
