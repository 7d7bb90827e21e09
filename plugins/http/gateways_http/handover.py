"""Handing a connection over to another plugin's protocol (``Upgrade: websocket``).

The request waits until the requests pipelined before it are answered; then the
``gateways_http_upgrade`` hook decides. A protocol that takes over gets the transport
and every byte of the request (it redoes the handshake itself, as autobahn expects);
otherwise the request is answered as plain HTTP and parsing goes on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gateways.plugin import printable
from gateways_http.message import upgrade_request
from gateways_http.request import Refused, header_value

if TYPE_CHECKING:
    from gateways_http.exchange import Exchange
    from gateways_http.protocol import HttpProtocol

log = logging.getLogger("gateways.http")


def _request_start(received: bytes, end: int, exchange: Exchange) -> int:
    """Where the upgrade request begins in ``received`` (earlier pipelined requests may
    share the first chunk)."""
    line = exchange.method.encode() + b" " + exchange.target
    if received.startswith(line):
        return 0
    found = received.rfind(b"\n" + line, 0, end)
    return found + 1 if found >= 0 else 0


class UpgradeWait:
    def __init__(self, conn: HttpProtocol, exchange: Exchange, received: bytes, end: int) -> None:
        self.conn = conn
        self.exchange = exchange
        start = _request_start(received, end, exchange)
        self.raw = bytearray(received[start:])
        self.after = end - start  # where bytes following the request begin in ``raw``

    def more(self, data: bytes) -> None:
        self.raw += data

    def decide(self) -> None:
        conn, exchange = self.conn, self.exchange
        token = (header_value(exchange.headers, b"upgrade") or b"").strip().lower()
        if not token:
            conn.upgrade = None
            conn.refuse(Refused(400, "Connection: upgrade without an Upgrade token"))
            return
        server = conn.server
        raw = bytes(self.raw)
        request = upgrade_request(exchange, server.options, token.decode("latin-1"), raw)
        try:
            protocol = server.upgrade_hook(request)
        except Exception:
            log.exception(
                "the upgrade hook failed for %s %s", exchange.method, printable(exchange.path)
            )
            protocol = None
        if protocol is None:
            exchange.upgrade = False
            conn.begin(exchange)
            conn.resume_parsing(bytes(self.raw[self.after :]))
            return
        self.hand_over(protocol)

    def hand_over(self, protocol: Any) -> None:
        conn = self.conn
        conn.detach()
        transport: Any = conn.transport
        if hasattr(transport, "wrappedProtocol"):
            transport.wrappedProtocol = protocol  # TLS: the wrapper delivers the plain text
        else:
            transport.protocol = protocol
        protocol.makeConnection(transport)
        protocol.dataReceived(bytes(self.raw))
