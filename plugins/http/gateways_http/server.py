"""What every connection of one HTTP interface shares: the settings, the interface's
runtime (reply channels, tasks, drain), the timeouts sweep, and the layer traffic of a
request: ``http.request`` out, ``http.disconnect`` when its client leaves.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IProtocolNegotiationFactory
from twisted.internet.protocol import Factory
from zope.interface import implementer

from gateways.plugin import (
    DEADLINE_KEY,
    ChannelFull,
    Interface,
    LayerUnavailable,
    MessageTooLarge,
    NoWorkerNotice,
    Throttled,
    counting,
    printable,
)
from gateways_http import metrics
from gateways_http.accesslog import AccessLog
from gateways_http.body import CHUNK
from gateways_http.exchange import DISPATCHED, Exchange
from gateways_http.message import (
    BODY_CHANNEL_PREFIX,
    DISCONNECT_CHANNEL,
    REQUEST_CHANNEL,
    disconnect_message,
    request_message,
    scope,
)
from gateways_http.options import HttpOptions
from gateways_http.protocol import HttpProtocol
from gateways_http.request import header_value
from gateways_http.upgrade import UpgradeRequest

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress

    from gateways_http.h2protocol import H2Protocol

log = logging.getLogger("gateways.http")
_throttled = Throttled(log)

#: What the layer may refuse ``http.request`` with (each answered, see HttpServer._refused).
_REFUSED = (ChannelFull, MessageTooLarge, LayerUnavailable, ConnectionError, OSError)
#: Seconds a client is told to wait when the request channel is full.
RETRY_AFTER = b"1"
#: Seconds after a client left during which a reply asking to hear of it
#: (``notify_disconnect``) is still told.
LATE_NOTICE_SECONDS = 60.0


@implementer(IProtocolNegotiationFactory)
class HttpServer(Factory):
    """The Twisted factory of one HTTP interface, and the state its connections share.

    ``interface`` is the runtime the connections lean on (its reply channels, tasks and
    drain state); any :class:`gateways.plugin.Interface` with a ``reply_prefix`` serves.
    """

    def __init__(
        self, options: HttpOptions, interface: Interface, access_log: AccessLog | None = None
    ) -> None:
        self.options = options
        self.interface = interface
        self.layer = interface.layer
        self.access_log = access_log
        self.loop = asyncio.get_running_loop()
        self.connections: set[HttpProtocol | H2Protocol] = set()
        #: Says once when requests time out and no worker receives http.request.
        self.no_worker = NoWorkerNotice(self.layer, REQUEST_CHANNEL, interface.spawn, log)
        shortest = min(options.http_timeout, options.http_header_timeout, options.http_idle_timeout)
        self.sweep_interval = max(0.05, min(1.0, shortest / 10))

    def buildProtocol(self, addr: IAddress | None) -> HttpProtocol:
        return HttpProtocol(self)

    def acceptableProtocols(self) -> list[bytes]:
        """ALPN on TLS endpoints: HTTP/2 first (the connection switches at its first
        bytes, see :func:`gateways_http.handover.sniff`). Without an overlap Twisted
        fails the handshake, and most clients offer ``http/1.1``."""
        return [b"h2", b"http/1.1"]

    # -- timeouts and drain ----------------------------------------------------------------

    async def sweep_forever(self) -> None:
        """Fire the idle, header and reply timeouts as they fall due (a daemon task)."""
        while True:
            await asyncio.sleep(self.sweep_interval)
            now = self.loop.time()
            for conn in list(self.connections):
                try:
                    conn.check_deadlines(now)
                except Exception:
                    log.exception("a connection timeout failed")

    def outstanding(self) -> int:
        """Requests in progress on every connection (what a drain waits for)."""
        return sum(conn.in_progress() for conn in self.connections)

    def request_ended(self) -> None:
        """A request finished or its connection closed: a drain may be over."""
        if self.interface.draining:
            self.interface.changed()

    # -- a request's layer traffic ---------------------------------------------------------

    def dispatch(self, exchange: Exchange) -> None:
        """Send ``http.request``: the whole body, or its first chunk plus ``body_channel``."""
        exchange.state = DISPATCHED
        exchange.reply_channel = self.interface.reply_channel(
            exchange.on_reply, lost=exchange.on_worker_lost
        )
        body = exchange.take_body()
        body_channel = None
        if not exchange.received:
            body_channel = BODY_CHANNEL_PREFIX + secrets.token_hex(10)
            pump = exchange.start_pump(body_channel)
            if len(body) > CHUNK:
                pump.push(body[CHUNK:])
                body = body[:CHUNK]
        message = request_message(exchange, self.options, body, body_channel)
        timeout = self.options.http_timeout
        # Workers drop it unrun once this interface has given up on it (503): a send
        # that lands late (a layer that stalled) never runs work the client saw fail.
        message[DEADLINE_KEY] = self.interface.give_up_at(REQUEST_CHANNEL, timeout)
        exchange.dispatched = now = self.loop.time()
        exchange.deadline = now + timeout
        if exchange.pump is None:  # no body to follow: sent at once where the layer can
            try:
                if self.layer.send_now(REQUEST_CHANNEL, message):
                    return
                sending = self.layer.send_soon(REQUEST_CHANNEL, message)
            except _REFUSED as exc:
                # Answered on the next loop turn, as after a send in a task: never from
                # inside the parser's callback that dispatched it.
                self.loop.call_soon(self._refused, exchange, exc)
                return
            if sending is not None:
                self.interface.watch(sending).add_done_callback(
                    lambda sent: self._sent(exchange, sent)
                )
                return
        self.interface.spawn(self._send(exchange, message))

    def _sent(self, exchange: Exchange, sent: asyncio.Future[None]) -> None:
        """A send begun with ``send_soon`` settled: answer a refusal as ``_send`` does."""
        if sent.cancelled():
            return
        error = sent.exception()
        if isinstance(error, _REFUSED):
            self._refused(exchange, error)
        elif error is not None:
            self.interface.log.error("http: sending a request failed", exc_info=error)

    async def _send(self, exchange: Exchange, message: dict[str, Any]) -> None:
        pump = exchange.pump
        try:
            await self.layer.send(REQUEST_CHANNEL, message)
        except _REFUSED as exc:
            self._refused(exchange, exc)
        else:
            if pump is not None:
                # The body follows the request that names its channel; cut off or not,
                # its stream ends, so a consumer that takes the request never waits.
                pump.release()

    def _refused(self, exchange: Exchange, exc: Exception) -> None:
        """The layer did not take ``http.request``: 503 (full, or down) or 431."""
        if isinstance(exc, ChannelFull):
            _throttled.warning(
                "full",
                "%s is full: 503 for %s %s",
                REQUEST_CHANNEL,
                exchange.method,
                printable(exchange.path),
            )
            self._not_sent(exchange, 503, "server busy, retry soon")
        elif isinstance(exc, MessageTooLarge):
            _throttled.error("large", "http.request too large for the layer: %s", exc)
            self._not_sent(exchange, 431, "request headers too large")
        else:
            _throttled.error("down", "channel layer unavailable (%s): 503", exc)
            self._not_sent(exchange, 503, "service unavailable")

    @staticmethod
    def _not_sent(exchange: Exchange, status: int, text: str) -> None:
        """``http.request`` never reached the layer: nobody will read its body."""
        if exchange.pump is not None:
            exchange.pump.cancel()
        extra = [(b"retry-after", RETRY_AFTER)] if status == 503 else []
        exchange.fail(status, text, extra)

    def buffered(self) -> dict[str, int]:
        """Request bytes held for clients now (see :meth:`HttpProtocol.buffered`)."""
        head = body = unread = 0
        for conn in self.connections:
            held = conn.buffered()
            head, body, unread = head + held[0], body + held[1], unread + held[2]
        return {"head": head, "body": body, "unread": unread}

    def finished(self, exchange: Exchange) -> None:
        """The response is complete: replies for it are dropped from now on; log it."""
        if exchange.reply_channel:
            self.interface.forget(exchange.reply_channel)
        if counting():
            metrics.RESPONSES.inc(exchange.status)
            if exchange.dispatched:
                metrics.DURATION.observe(self.loop.time() - exchange.dispatched)
        if self.access_log is not None:
            self._log_access(exchange)

    def _log_access(self, exchange: Exchange) -> None:
        assert self.access_log is not None
        _, client, _ = scope(exchange, self.options)
        line = f"{exchange.method} {exchange.target.decode('latin-1')} HTTP/{exchange.version}"
        self.access_log.log(
            str(client[0]) if client else None,
            line,
            exchange.status,
            exchange.sent,
            header_value(exchange.headers, b"referer"),
            header_value(exchange.headers, b"user-agent"),
        )

    def disconnected(self, exchange: Exchange) -> None:
        """The client left before its response was complete: tell the application."""
        interface = self.interface
        message = disconnect_message(exchange.reply_channel, exchange.path)
        interface.spawn(interface.send(DISCONNECT_CHANNEL, message))
        if exchange.notify:  # the consumer asked to hear it directly (ASGI apps do)
            interface.spawn(interface.send(exchange.notify, message))
            interface.forget(exchange.reply_channel)
            return
        # A consumer asking to hear of it may still be on its way: answer it late.
        late = functools.partial(self._late_notice, message)
        interface.linger(exchange.reply_channel, late, LATE_NOTICE_SECONDS)

    async def _late_notice(self, notice: dict[str, Any], reply: dict[str, Any]) -> None:
        channel = reply.get("notify_disconnect")
        if isinstance(channel, str):
            await self.interface.send(channel, notice)

    def upgrade_hook(self, request: UpgradeRequest) -> Any:
        """Ask the plugins whether one takes this upgrade over (a protocol, or None)."""
        host = self.interface.host
        return host.hook.gateways_http_upgrade(host=host, request=request)
