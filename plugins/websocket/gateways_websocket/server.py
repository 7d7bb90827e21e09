"""The websocket interface of one ``gateways serve`` process.

It listens on nothing itself: sockets arrive through the HTTP plugin's upgrade hook.
:class:`~gateways.plugin.Interface` owns the receive loop and the process-specific
reply prefix (``websocket.send.<process>!``); each socket gets a reply channel under it,
bound to :func:`~gateways_websocket.replies.apply_reply` for as long as it is open, and a
:class:`~gateways.flow.Flow` named after it that carries its ``websocket.*`` messages to
the layer: numbered (workers run them one at a time, in order, however many there are),
at most a window of them unfinished, and never failed because a shared channel is full
while the socket is open: the socket is read more slowly instead (TCP holds the rest).
"""

from __future__ import annotations

import asyncio
import functools

from gateways_http.upgrade import UpgradeRequest

from gateways.plugin import (
    ChannelFull,
    Host,
    Interface,
    LayerUnavailable,
    MessageTooLarge,
    Throttled,
)
from gateways_websocket._compat import protocol_class
from gateways_websocket.frames import FrameCache
from gateways_websocket.options import WsOptions
from gateways_websocket.protocol import WebSocketFactory, WebSocketProtocol
from gateways_websocket.replies import apply_reply

DRAIN_CODE = 1001  # going away


class WebSocketServer(Interface):
    name = "websocket"
    reply_prefix = "websocket.send"

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.config = WsOptions.read(host.settings)
        self.factory = WebSocketFactory(self.config)
        self.protocol = protocol_class(WebSocketProtocol, self.factory)
        self.sockets: dict[str, WebSocketProtocol] = {}
        self.frames = FrameCache()  # a broadcast is framed once, for every socket
        self.warn = Throttled(self.log)  # per-socket warnings: one a minute, with counts
        # The http interface may start first and hand over sockets before this one
        # has its reply prefix; they wait for it here.
        self._ready = asyncio.Event()

    # -- Interface ----------------------------------------------------------------------

    async def listen(self) -> None:
        self._warn_layer_limit()
        self._ready.set()
        self.log.info(
            "websocket: taking Upgrade: websocket on the http port; replies on %s", self.prefix
        )

    async def stop_accepting(self) -> None:
        """New handshakes get 503 (``draining``); open sockets are closed with 1001."""
        if self.sockets:
            self.log.info("websocket: closing %d socket(s)", len(self.sockets))
        for socket in list(self.sockets.values()):
            socket.close(DRAIN_CODE)

    async def close_all(self) -> None:
        """Peers that have not finished closing within the grace period are dropped."""
        for socket in list(self.sockets.values()):
            socket.dropConnection(abort=True)

    # -- sockets ------------------------------------------------------------------------

    def build(self, request: UpgradeRequest) -> WebSocketProtocol:
        """The protocol the HTTP interface hands an upgraded connection to."""
        protocol = self.protocol(self, request)
        protocol.factory = self.factory
        return protocol

    def open(self, socket: WebSocketProtocol) -> None:
        """The handshake is valid: name the socket, tell the consumers, start the clock."""
        self.spawn(self._open(socket), "websocket handshake")

    async def _open(self, socket: WebSocketProtocol) -> None:
        await self._ready.wait()
        if socket.handshake is None:
            return  # the client went away while we waited to start
        if self.draining:
            socket.reject(503, "server shutting down")
            return
        socket.reply_channel = self.reply_channel(functools.partial(apply_reply, socket))
        self.sockets[socket.reply_channel] = socket
        socket.flow = self.flow(
            socket.reply_channel,
            pause=socket.pause_reading,
            resume=socket.resume_reading,
            failed=functools.partial(self._not_sent, socket),
        )
        socket.connect_timer = asyncio.get_running_loop().call_later(
            self.config.ws_connect_timeout, self._connect_timeout, socket
        )
        socket.connect_sent = True
        socket.flow.send("websocket.connect", dict(socket.connect_message()))

    def _connect_timeout(self, socket: WebSocketProtocol) -> None:
        if socket.connecting:
            self.warn.warning(
                "connect timeout",
                "%s: no consumer answered websocket.connect within %.1fs (is a worker "
                "running and routing websocket.connect?); refusing with 503",
                socket.reply_channel,
                self.config.ws_connect_timeout,
            )
            socket.reject(503, "no consumer answered")

    def closed(self, socket: WebSocketProtocol, code: int) -> None:
        if self.sockets.pop(socket.reply_channel, None) is None:
            return
        self.forget(socket.reply_channel)
        flow = socket.flow
        if flow is None:
            return
        if socket.connect_sent:
            message = {
                "reply_channel": socket.reply_channel,
                "path": socket.path,
                "code": code,
                "order": socket.next_order(),
            }
            flow.send("websocket.disconnect", message, notice=True)
        flow.finish()  # what is queued still goes, in order; then the flow is forgotten

    # -- to the layer ---------------------------------------------------------------------

    def _not_sent(self, socket: WebSocketProtocol, channel: str, error: Exception) -> None:
        """A message of ``socket`` could not be put on the layer (its flow drops what was
        queued behind it): the socket is answered as the contract says. A full channel
        fails the connect at once (new work is refused), and a later message only when
        the channel stayed full for the flow's whole wait."""
        if channel == "websocket.disconnect":  # a notice: not waited for, may be unrouted
            self.warn.warning(
                "disconnect", "%s: the close of %s goes unreported (%s)", channel, socket, error
            )
            return
        if channel == "websocket.connect":
            socket.connect_sent = False  # no consumer heard of it: no disconnect either
        if isinstance(error, ChannelFull):
            answer = "refusing with 503" if socket.connecting else "closing with 1013"
            self.warn.warning(
                f"{channel} full", "%s is full: %s %s", channel, answer, socket.reply_channel
            )
            socket.close(1013)  # a handshake still pending is refused with 503
        elif isinstance(error, MessageTooLarge):
            self.warn.warning("too large", "%s: %s; closing with 1009", socket.reply_channel, error)
            socket.close(1009)
        elif isinstance(error, (LayerUnavailable, OSError)):
            self.warn.error(
                "layer down",
                "layer unreachable (%s): closing %s with 1011",
                error,
                socket.reply_channel,
            )
            socket.close(1011)
        else:
            self.log.error(
                "%s: a message for %s cannot be sent; closing with 1011",
                socket.reply_channel,
                channel,
                exc_info=error,
            )
            socket.close(1011)

    def _warn_layer_limit(self) -> None:
        if self.config.ws_max_message > self.layer.max_message_size:
            self.log.warning(
                "--ws-max-message is %d bytes but the channel layer takes messages up to %d: "
                "larger frames close their socket with 1009; raise the layer's "
                "max_message_size to match",
                self.config.ws_max_message,
                self.layer.max_message_size,
            )
