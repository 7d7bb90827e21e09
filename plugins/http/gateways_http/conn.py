"""What an :class:`~gateways_http.exchange.Exchange` needs from the connection it
answers on: an HTTP/1.1 connection (:class:`~gateways_http.protocol.HttpProtocol`) or
one HTTP/2 stream (:class:`~gateways_http.h2stream.H2Stream`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateways_http.exchange import Exchange
    from gateways_http.request import Address
    from gateways_http.server import HttpServer


class ExchangeConn(Protocol):
    @property
    def server(self) -> HttpServer: ...

    @property
    def scheme(self) -> str: ...

    @property
    def client(self) -> Address: ...

    @property
    def local(self) -> Address: ...

    def write(self, data: bytes) -> None:
        """More of the response's body (already framed by the exchange)."""

    def finish(self, exchange: Exchange, last: bytes = b"") -> None:
        """The response is complete once ``last`` is written."""

    def abort(self) -> None:
        """End a response that cannot be completed, so the client sees it cut short."""

    def pause_for_body(self, on: bool) -> None:
        """Stop (or resume) taking in this request's body."""
