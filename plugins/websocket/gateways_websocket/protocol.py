"""One WebSocket connection: autobahn does the framing; this class turns its events into
``websocket.*`` messages and applies the replies the server's receive loop hands it.

The HTTP interface hands the connection over after reading an ``Upgrade: websocket``
request, and replays the bytes it read; autobahn then redoes the handshake from them,
as Daphne's WebSocketProtocol does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from autobahn.twisted.websocket import ConnectionDeny, WebSocketServerFactory
from autobahn.websocket.types import ConnectionRequest
from gateways_http.upgrade import UpgradeRequest
from twisted.internet.defer import Deferred

from gateways.plugin import Throttled, printable
from gateways_websocket import access, handshake
from gateways_websocket._compat import (
    AnswerLater,
    forget_handshake,
    ping_timeout_later,
    send_close,
    send_prepared,
    use_precise_timer,
)
from gateways_websocket._types import WebSocketConnect
from gateways_websocket.options import WsOptions

if TYPE_CHECKING:
    from gateways.flow import Flow
    from gateways_websocket.server import WebSocketServer

log = logging.getLogger("gateways.websocket")
warn = Throttled(log)

#: Close codes an application may send (RFC 6455 section 7.4; 1004-1006 and 1015 are
#: reserved for reporting, never for the wire).
SENDABLE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013))
NO_STATUS = 1005
#: Why a handshake still pending is refused when its socket is closed with a code.
_REFUSED_BY_CODE = {
    1001: "server shutting down",
    1009: "message too large",
    1011: "server error",
    1013: "channel full",
}


def sendable(code: int) -> bool:
    return code in SENDABLE_CODES or 3000 <= code <= 4999


class WebSocketFactory(WebSocketServerFactory):
    """Holds autobahn's per-server options; protocols are built by the upgrade hook."""

    def __init__(self, config: WsOptions) -> None:
        super().__init__(server="gateways")
        use_precise_timer(self)
        self.setProtocolOptions(
            maxMessagePayloadSize=config.ws_max_message,
            maxFramePayloadSize=config.ws_max_message,
            autoPingInterval=config.ws_ping_interval,
            autoPingTimeout=config.ws_ping_timeout,
            # Our own timer answers a silent consumer with 503; this one only catches a
            # peer that never completes the request at all.
            openHandshakeTimeout=config.ws_connect_timeout + 5,
            utf8validateIncoming=True,
            # Origins are policy, decided in onConnect (403); autobahn only parses them.
            allowedOrigins=["*"],
            allowNullOrigin=True,
            failByDrop=False,
        )


class WebSocketProtocol(AnswerLater):
    """A socket from handshake to close. ``reply_channel`` names it on the layer; its
    ``flow`` carries its messages there, in order, and stops reading the socket while
    the consumers are behind (:meth:`pause_reading`)."""

    def __init__(self, server: WebSocketServer, request: UpgradeRequest) -> None:
        super().__init__()
        self.server = server
        #: The request, until the socket opens: then only its path and client are kept.
        self.upgrade: UpgradeRequest | None = request
        self.path = request.path
        self.client = request.client
        self.reply_channel = ""
        self.order = 0
        self.handshake = None
        self.connect_sent = False
        self.connect_timer: asyncio.TimerHandle | None = None
        self.flow: Flow | None = None  # set once the socket has its reply channel
        self.reading_paused = False
        self.started = time.monotonic()
        self.refused = False
        self.deny_detail: str | None = None  # for the access log: why, beyond the status

    # -- handshake -----------------------------------------------------------------------

    def onConnect(self, request: ConnectionRequest) -> Any:
        """Check policy, then answer later: the Deferred fires on the consumer's reply."""
        upgrade = self.upgrade
        assert upgrade is not None, "autobahn asks once, before the socket opens"
        access.connecting(self, upgrade.headers)
        problem = handshake.header_problem(upgrade.headers)
        if problem:
            raise ConnectionDeny(400, problem)
        allowed = self.server.config.ws_allowed_origin
        if not handshake.origin_allowed(upgrade.headers, upgrade.scheme, allowed):
            self.deny_detail = f"refused Origin {access.origin_of(upgrade.headers)}"
            raise ConnectionDeny(403, "origin not allowed")
        if self.server.draining:
            raise ConnectionDeny(503, "server shutting down")
        self.handshake = Deferred()
        self.server.open(self)
        return self.handshake

    def connect_message(self) -> WebSocketConnect:
        upgrade = self.upgrade
        assert upgrade is not None, "sent while the handshake is pending"
        return {
            "reply_channel": self.reply_channel,
            "scheme": "wss" if upgrade.scheme == "https" else "ws",
            "path": upgrade.path,
            "query_string": upgrade.query_string,
            "root_path": upgrade.root_path,
            "headers": upgrade.headers,
            "client": upgrade.client,
            "server": upgrade.server,
            "subprotocols": handshake.subprotocols(upgrade.headers),
            "order": 0,
        }

    @property
    def connecting(self) -> bool:
        return self.state == self.STATE_CONNECTING and self.handshake is not None

    def _settle(self) -> Deferred[Any] | None:
        """Take the pending handshake (once) and stop its clock."""
        if self.connect_timer is not None:
            self.connect_timer.cancel()
            self.connect_timer = None
        deferred, self.handshake = self.handshake, None
        return deferred

    def accept(self, subprotocol: str | None) -> None:
        if subprotocol is not None and subprotocol not in self.websocket_protocols:
            warn.error(
                "subprotocol",
                "%s: the consumer accepted subprotocol %r, which the client did not offer "
                "(offered: %s); refusing the handshake",
                self.reply_channel,
                subprotocol,
                printable(", ".join(self.websocket_protocols or ())),
            )
            self.reject(500, "bad subprotocol")
            return
        deferred = self._settle()
        if deferred is not None:
            deferred.callback(subprotocol)

    def reject(
        self, status: int = 403, reason: str = "Access denied", detail: str | None = None
    ) -> None:
        """Refuse the pending handshake; ``detail`` says why in the access log only."""
        deferred = self._settle()
        if deferred is not None:
            self.deny_detail = detail or self.deny_detail
            deferred.errback(ConnectionDeny(status, reason))

    def refusing(self, status: int, reason: str) -> None:
        self.refused = True
        access.rejected(self, status, reason, self.deny_detail)

    def onOpen(self) -> None:
        access.accepted(self)
        # An open socket keeps only what it still needs: its idle memory is the cost.
        self.upgrade = None
        forget_handshake(self)

    # -- traffic -------------------------------------------------------------------------

    def next_order(self) -> int:
        self.order += 1
        return self.order

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if isBinary:
            message: dict[str, Any] = {"bytes": payload}
        else:
            message = {"text": payload.decode("utf-8")}  # autobahn validated it (else 1007)
        message.update(reply_channel=self.reply_channel, path=self.path)
        message["order"] = self.next_order()
        if self.flow is not None:
            self.flow.send("websocket.receive", message)

    # -- reading, paused while the consumers are behind -------------------------------------

    def pause_reading(self) -> None:
        """Stop reading the socket: what the client sends waits in TCP (its sends block)."""
        transport: Any = self.transport  # TCP, or TLS over it: both are push producers
        if self.state == self.STATE_OPEN and not self.reading_paused:
            self.reading_paused = True
            transport.pauseProducing()

    def resume_reading(self) -> None:
        transport: Any = self.transport
        if not self.reading_paused:
            return
        self.reading_paused = False
        if transport is not None and not transport.disconnecting:
            transport.resumeProducing()

    def onAutoPingTimeout(self) -> None:
        """A pong that is not read is not late: while reading is paused, the peer's
        answer may be waiting in TCP, so the deadline starts again instead of dropping."""
        if self.reading_paused:
            ping_timeout_later(self, self.onAutoPingTimeout)
            return
        super().onAutoPingTimeout()

    def send(self, payload: str | bytes) -> None:
        """Send one message (``str``: text, ``bytes``: binary) on the open socket. Its
        frame is built once for every socket a broadcast reaches (frames.py) and written
        straight to the socket; autobahn frames it itself where it must (compression)."""
        prepared, size = self.server.frames.frame(payload)
        if send_prepared(self, prepared, size):
            return
        if isinstance(payload, bytes):
            self.sendMessage(payload, isBinary=True)
        else:
            self.sendMessage(payload.encode("utf-8"), isBinary=False)

    def close(self, code: int = 1000) -> None:
        """Close with ``code`` (the handshake, when still pending, is refused instead)."""
        if self.connecting:
            status = 500 if code == 1011 else 503 if code in (1001, 1013) else 403
            self.reject(status, detail=_REFUSED_BY_CODE.get(code))
        elif self.state == self.STATE_OPEN:
            send_close(self, code)
            self.resume_reading()  # the peer's close frame must be read, behind its data

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self._settle()
        code = NO_STATUS if code is None else code
        if not self.refused:
            access.closed(self, code)
        self.server.closed(self, code)

    def __repr__(self) -> str:
        return f"<WebSocketProtocol {self.reply_channel or '(no channel)'} {self.path}>"
