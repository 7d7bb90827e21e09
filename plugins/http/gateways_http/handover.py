"""Handing a connection over to another protocol: HTTP/2, or another plugin's
(``Upgrade: websocket``).

The request waits until the requests pipelined before it are answered; then the
``gateways_http_upgrade`` hook decides. A protocol that takes over gets the transport
and every byte of the request (it redoes the handshake itself, as autobahn expects);
otherwise the request is answered as plain HTTP and parsing goes on.

HTTP/2 takes over a connection three ways: ALPN ``h2`` on TLS or the connection preface
(:func:`sniff`, at the connection's first bytes), and ``Upgrade: h2c`` (answered here,
before the hook is asked).
"""

from __future__ import annotations

import binascii
import logging
from typing import TYPE_CHECKING, Any

from h2.exceptions import ProtocolError

from gateways.plugin import printable
from gateways_http.h2protocol import H2Protocol
from gateways_http.message import upgrade_request
from gateways_http.request import Refused, header_value

if TYPE_CHECKING:
    from gateways_http.exchange import Exchange
    from gateways_http.protocol import HttpProtocol

log = logging.getLogger("gateways.http")

#: What an HTTP/2 client sends first (RFC 9113 3.4).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SWITCHING_TO_H2C = (
    b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"
)
#: Headers of an upgrading request that say nothing once it is stream 1.
_UPGRADE_ONLY = frozenset(
    (b"connection", b"upgrade", b"http2-settings", b"keep-alive", b"te", b"transfer-encoding")
)


def install(conn: HttpProtocol, protocol: Any) -> None:
    """Make ``protocol`` the connection's protocol in place of ``conn``."""
    conn.detach()
    transport: Any = conn.transport
    if hasattr(transport, "wrappedProtocol"):
        transport.wrappedProtocol = protocol  # TLS: the wrapper delivers the plain text
    else:
        transport.protocol = protocol
    protocol.makeConnection(transport)


def sniff(conn: HttpProtocol, seen: bytes) -> bytes | None:
    """The connection's first bytes: with ALPN ``h2`` or the HTTP/2 preface it becomes
    an HTTP/2 connection (None); a preface may still be arriving (b""); anything
    else is HTTP/1.1 (``seen``, to parse)."""
    if getattr(conn.transport, "negotiatedProtocol", None) == b"h2" or seen.startswith(PREFACE):
        protocol = H2Protocol(conn.server, conn.scheme, conn.client, conn.local)
        install(conn, protocol)
        protocol.dataReceived(seen)
        return None
    if len(seen) < len(PREFACE) and PREFACE.startswith(seen):
        return b""
    return seen


def _has_body(exchange: Exchange) -> bool:
    length = header_value(exchange.headers, b"content-length")
    chunked = header_value(exchange.headers, b"transfer-encoding") is not None
    return bool(exchange.body_size) or chunked or (length is not None and length != b"0")


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
        if token == b"h2c" and self._to_h2c():
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
            rest = bytes(self.raw[self.after :])
            if _has_body(exchange):
                conn.resume_body(exchange, rest)  # llhttp left the body unparsed
                return
            exchange.upgrade = False
            conn.begin(exchange)
            conn.resume_parsing(rest)
            return
        self.hand_over(protocol)

    def hand_over(self, protocol: Any) -> None:
        install(self.conn, protocol)
        protocol.dataReceived(bytes(self.raw))

    def _to_h2c(self) -> bool:
        """``Upgrade: h2c`` with one valid ``HTTP2-Settings`` and no body, on cleartext:
        101, then HTTP/2 with this request as stream 1. Otherwise False: the request is
        served as HTTP/1.1 (RFC 9113 3.1 lets a server ignore the upgrade)."""
        conn, exchange = self.conn, self.exchange
        settings = [value for name, value in exchange.headers if name == b"http2-settings"]
        if conn.scheme != "http" or len(settings) != 1 or _has_body(exchange):
            return False
        protocol = H2Protocol(conn.server, conn.scheme, conn.client, conn.local)
        try:
            protocol.upgrade(settings[0] + b"=" * (-len(settings[0]) % 4))  # unpadded
        except (ProtocolError, ValueError, binascii.Error):
            return False
        conn.write(SWITCHING_TO_H2C)
        install(conn, protocol)
        headers = [(name, value) for name, value in exchange.headers if name not in _UPGRADE_ONLY]
        protocol.adopt(exchange.method, exchange.target, headers)
        protocol.dataReceived(bytes(self.raw[self.after :]))
        return True
