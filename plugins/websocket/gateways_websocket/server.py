"""The websocket interface of one ``gateways serve`` process.

It listens on nothing itself: sockets arrive through the HTTP plugin's upgrade hook. It
owns ONE process-specific reply prefix (``websocket.send.<process>!``), gives each socket
a channel under it, and runs ONE receive loop that hands every reply to its socket.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from gateways.layers import BaseChannelLayer, ChannelFull, MessageTooLarge
from gateways.layers.receiving import receive_forever
from gateways_websocket.options import WsConfig
from gateways_websocket.protocol import WebSocketFactory, WebSocketProtocol
from gateways_websocket.replies import apply_reply

log = logging.getLogger("gateways.websocket")

#: How long one receive waits before the loop checks whether it should stop.
POLL_SECONDS = 5.0
DRAIN_CODE = 1001  # going away


class WebSocketServer:
    name = "websocket"

    def __init__(self, config: WsConfig, layer: BaseChannelLayer) -> None:
        self.config = config
        self.layer = layer
        self.factory = WebSocketFactory(config)
        self.prefix = ""
        self.sockets: dict[str, WebSocketProtocol] = {}
        self.draining = False
        self._ready = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._all_closed = asyncio.Event()

    # -- Interface ----------------------------------------------------------------------

    async def start(self) -> None:
        name = await self.layer.new_channel("websocket.send")
        self.prefix = name[: name.index("!") + 1]
        self._loop_task = asyncio.create_task(self._receive_loop(), name="websocket replies")
        self._loop_task.add_done_callback(self._loop_ended)
        self._warn_layer_limit()
        self._ready.set()
        log.info(
            "websocket: taking Upgrade: websocket on the http port; replies on %s", self.prefix
        )

    async def drain(self, grace: float) -> None:
        """Refuse new handshakes, close open sockets with 1001, wait for them (``grace``)."""
        self.draining = True
        for socket in list(self.sockets.values()):
            socket.close(DRAIN_CODE)
        if self.sockets:
            log.info("websocket: closing %d socket(s)", len(self.sockets))
            try:
                await asyncio.wait_for(self._all_closed.wait(), grace)
            except TimeoutError:
                log.warning(
                    "websocket: dropping %d socket(s) after %.0fs", len(self.sockets), grace
                )
                for socket in list(self.sockets.values()):
                    socket.dropConnection(abort=True)
        if self._sends:
            await asyncio.wait(set(self._sends), timeout=max(grace, 1.0))
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)

    # -- sockets ------------------------------------------------------------------------

    def build(self, request: Any) -> WebSocketProtocol:
        """The protocol the HTTP interface hands an upgraded connection to."""
        protocol = WebSocketProtocol(self, request)
        protocol.factory = self.factory
        return protocol

    def open(self, socket: WebSocketProtocol) -> None:
        """The handshake is valid: name the socket, tell the consumers, start the clock."""
        self._all_closed.clear()
        self._spawn(self._open(socket))

    async def _open(self, socket: WebSocketProtocol) -> None:
        await self._ready.wait()
        if socket.handshake is None:
            return  # the client went away while we waited to start
        socket.reply_channel = self.prefix + secrets.token_hex(8)
        self.sockets[socket.reply_channel] = socket
        socket.connect_timer = asyncio.get_running_loop().call_later(
            self.config.connect_timeout, self._connect_timeout, socket
        )
        socket.connect_sent = True
        self.send(socket, "websocket.connect", dict(socket.connect_message()))

    def _connect_timeout(self, socket: WebSocketProtocol) -> None:
        if socket.connecting:
            log.warning(
                "%s: no consumer answered websocket.connect within %.1fs (is a worker "
                "running and routing websocket.connect?); refusing with 503",
                socket.reply_channel,
                self.config.connect_timeout,
            )
            socket.reject(503, "no consumer answered")

    def closed(self, socket: WebSocketProtocol, code: int) -> None:
        if self.sockets.pop(socket.reply_channel, None) is None:
            return
        if socket.connect_sent:
            message = {
                "reply_channel": socket.reply_channel,
                "path": socket.upgrade.path,
                "code": code,
                "order": socket.next_order(),
            }
            self.send(socket, "websocket.disconnect", message)
        if not self.sockets:
            self._all_closed.set()

    # -- to the layer ---------------------------------------------------------------------

    def send(self, socket: WebSocketProtocol, channel: str, message: Mapping[str, Any]) -> None:
        """Send in order per socket: each send starts once the socket's previous one ended."""
        socket.sent_tail = self._spawn(self._send(socket, channel, message, socket.sent_tail))

    async def _send(
        self,
        socket: WebSocketProtocol,
        channel: str,
        message: Mapping[str, Any],
        previous: asyncio.Task[None] | None,
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        try:
            await self.layer.send(channel, message)
        except ChannelFull:
            if channel == "websocket.disconnect":
                log.warning("%s is full: the close of %s goes unreported", channel, socket)
            else:
                log.warning("%s is full: closing %s with 1013", channel, socket.reply_channel)
                socket.close(1013)
        except MessageTooLarge as exc:
            log.warning("%s: %s; closing with 1009", socket.reply_channel, exc)
            socket.close(1009)
        except (ConnectionError, OSError) as exc:
            log.error("layer unreachable (%s): closing %s with 1011", exc, socket.reply_channel)
            socket.close(1011)
        finally:
            if socket.sent_tail is asyncio.current_task():
                socket.sent_tail = None  # idle sockets keep no finished task alive

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._sends.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("websocket: sending to the layer failed", exc_info=task.exception())

    # -- from the layer -------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        async for channel, message in receive_forever(
            self.layer, [self.prefix], name="websocket", timeout=POLL_SECONDS
        ):
            socket = self.sockets.get(channel)
            if socket is None:
                log.debug("reply for a closed socket on %s dropped", channel)
                continue
            try:
                apply_reply(socket, message)
            except Exception:
                log.exception("%s: could not apply reply %r", channel, message)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.critical(
                "websocket: the reply loop died; sockets get no more replies",
                exc_info=task.exception(),
            )

    def _warn_layer_limit(self) -> None:
        if self.config.max_message > self.layer.max_message_size:
            log.warning(
                "--ws-max-message is %d bytes but the channel layer takes messages up to %d: "
                "larger frames close their socket with 1009; raise the layer's "
                "max_message_size to match",
                self.config.max_message,
                self.layer.max_message_size,
            )
