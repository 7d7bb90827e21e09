"""What every connection of one HTTP interface shares: settings, the layer, the reply
dispatcher, background tasks, and the step from a parsed request to ``http.request``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IProtocolNegotiationFactory
from twisted.internet.protocol import Factory
from zope.interface import implementer

from gateways.layers.base import BaseChannelLayer
from gateways.layers.errors import ChannelFull, LayerUnavailable, MessageTooLarge
from gateways_http.accesslog import AccessLog
from gateways_http.body import CHUNK
from gateways_http.dispatcher import ReplyDispatcher
from gateways_http.exchange import Exchange
from gateways_http.options import HttpConfig
from gateways_http.protocol import HttpProtocol, Refused
from gateways_http.request import (
    apply_proxy_headers,
    decode_path,
    header_value,
    strip_root,
)
from gateways_http.upgrade import UpgradeRequest

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress

log = logging.getLogger("gateways.http")

REQUEST_CHANNEL = "http.request"
DISCONNECT_CHANNEL = "http.disconnect"
BODY_CHANNEL_PREFIX = "http.request.body."
#: Seconds a client is told to wait when the request channel is full.
RETRY_AFTER = b"1"

_header_names: dict[bytes, bytes | None] = {}


def _passable(name: bytes) -> bytes | None:
    """Lower-cased header name, or None for names consumers must not see (cached)."""
    from gateways_http.request import filter_headers

    cached = _header_names.get(name, b"")
    if cached == b"":
        found = filter_headers([(name, b"")])
        cached = found[0][0] if found else None
        if len(_header_names) < 4096:
            _header_names[name] = cached
    return cached


@implementer(IProtocolNegotiationFactory)
class HttpServer(Factory):
    """The Twisted factory of one HTTP interface, and the state its connections share."""

    def __init__(
        self,
        config: HttpConfig,
        layer: BaseChannelLayer,
        dispatcher: ReplyDispatcher,
        host: Any = None,
        access_log: AccessLog | None = None,
    ) -> None:
        self.config = config
        self.layer = layer
        self.dispatcher = dispatcher
        self.host = host
        self.access_log = access_log
        self.loop = asyncio.get_event_loop()
        self.connections: set[HttpProtocol] = set()
        self.tasks: set[asyncio.Future[Any]] = set()
        self.draining = False
        self.quiet = asyncio.Event()
        shortest = min(config.timeout, config.header_timeout, config.idle_timeout)
        self.sweep_interval = max(0.05, min(1.0, shortest / 10))
        self._sweeper: asyncio.TimerHandle | None = None

    def start_sweeping(self) -> None:
        self._sweeper = self.loop.call_later(self.sweep_interval, self.sweep)

    def stop_sweeping(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def sweep(self) -> None:
        """Fire the idle, header and reply timeouts that are due."""
        now = self.loop.time()
        for conn in list(self.connections):
            try:
                conn.check_deadlines(now)
            except Exception:
                log.exception("a connection timeout failed")
        self._sweeper = self.loop.call_later(self.sweep_interval, self.sweep)

    def buildProtocol(self, addr: IAddress | None) -> HttpProtocol:
        return HttpProtocol(self)

    def acceptableProtocols(self) -> list[bytes]:
        """ALPN on TLS endpoints. Without an overlap Twisted fails the handshake, and
        most clients offer ``http/1.1``."""
        return [b"http/1.1"]

    def busy(self) -> bool:
        """Whether any connection has a request in progress (drain waits for these)."""
        return any(conn.queue or conn.parsing for conn in self.connections)

    def check_quiet(self) -> None:
        """While draining, wake the drain once no request is in progress."""
        if self.draining and not self.busy():
            self.quiet.set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("HTTP background task failed", exc_info=task.exception())

    # -- from parsed request to message ------------------------------------------------

    def new_exchange(
        self,
        conn: HttpProtocol,
        method: str,
        version: str,
        keep_alive: bool,
        target: bytes,
        raw_headers: list[tuple[bytes, bytes]],
    ) -> Exchange:
        if target[:1] == b"/":
            raw_path, _, query = target.partition(b"?")
        else:
            parsed = _parse_url(target)
            raw_path, query = parsed.path or b"/", parsed.query or b""
        headers = []
        for name, value in raw_headers:
            lowered = _header_names.get(name) or _passable(name)
            if lowered is not None:
                headers.append([lowered, value])
        exchange = Exchange(conn, method, version, keep_alive, raw_path, query, headers, target)
        exchange.path = decode_path(raw_path)
        expect = header_value(headers, b"expect")
        exchange.expect_continue = expect is not None and expect.lower() == b"100-continue"
        return exchange

    def check_length(self, exchange: Exchange) -> None:
        """Refuse at once a declared body over --http-max-body (before it is sent)."""
        limit = self.config.max_body
        declared = header_value(exchange.headers, b"content-length")
        if limit and declared is not None and declared.isdigit() and int(declared) > limit:
            raise Refused(413, f"request body larger than {limit} bytes")

    def begin(self, exchange: Exchange) -> None:
        """``exchange`` is first in line: let its body come, send it when ready."""
        if exchange.expect_continue and not exchange.complete and not exchange.continue_sent:
            exchange.continue_sent = True
            exchange.conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if exchange.complete:
            self.dispatch(exchange)
        else:
            self.body_grew(exchange)

    def body_grew(self, exchange: Exchange) -> None:
        if exchange.body_size >= CHUNK and not exchange.dispatched:
            self.dispatch(exchange)

    def scope(self, exchange: Exchange) -> tuple[str, list[Any] | None, str]:
        """Scheme, client and path as consumers see them (proxy headers, root path)."""
        conn, config = exchange.conn, self.config
        scheme, client = conn.scheme, conn.client
        if config.proxy_headers:
            scheme, client = apply_proxy_headers(exchange.headers, scheme, client)
        return scheme, client, strip_root(exchange.path, config.root_path)

    def dispatch(self, exchange: Exchange) -> None:
        """Send ``http.request``: the whole body, or its first chunk plus ``body_channel``."""
        exchange.dispatched = True
        channel = self.dispatcher.new_channel(exchange.on_reply)
        exchange.reply_channel = channel
        body_channel = None
        body = exchange.take_body()
        if not exchange.complete:
            body_channel = BODY_CHANNEL_PREFIX + secrets.token_hex(10)
            pump = exchange.start_pump(body_channel)
            if len(body) > CHUNK:
                pump.push(body[CHUNK:])
                body = body[:CHUNK]
        scheme, client, path = self.scope(exchange)
        message = {
            "reply_channel": channel,
            "http_version": exchange.version,
            "method": exchange.method,
            "scheme": scheme,
            "path": path,
            "query_string": exchange.query_string,
            "root_path": self.config.root_path,
            "headers": exchange.headers,
            "body": body,
            "body_channel": body_channel,
            "client": client,
            "server": exchange.conn.local,
        }
        exchange.deadline = self.loop.time() + self.config.timeout
        self.spawn(self._send(exchange, message))

    async def _send(self, exchange: Exchange, message: dict[str, Any]) -> None:
        try:
            await self.layer.send(REQUEST_CHANNEL, message)
        except ChannelFull:
            log.warning(
                "%s is full: 503 for %s %s", REQUEST_CHANNEL, exchange.method, exchange.path
            )
            exchange.fail(503, "server busy, retry soon", [(b"retry-after", RETRY_AFTER)])
        except (LayerUnavailable, ConnectionError, OSError) as exc:
            log.error("channel layer unavailable (%s): 503", exc)
            exchange.fail(503, "service unavailable", [(b"retry-after", RETRY_AFTER)])
        except MessageTooLarge as exc:
            log.error("http.request too large for the layer: %s", exc)
            exchange.fail(431, "request headers too large")

    # -- after the exchange --------------------------------------------------------------

    def finished(self, exchange: Exchange) -> None:
        if exchange.reply_channel:
            self.dispatcher.forget(exchange.reply_channel)
        if self.access_log is not None:
            self._log_access(exchange)

    def _log_access(self, exchange: Exchange) -> None:
        assert self.access_log is not None
        _, client, _ = self.scope(exchange)
        line = f"{exchange.method} {exchange.target.decode('latin-1')} HTTP/{exchange.version}"
        self.access_log.log(
            str(client[0]) if client else None,
            line,
            exchange.status,
            exchange.sent,
            header_value(exchange.headers, b"referer"),
            header_value(exchange.headers, b"user-agent"),
        )

    def disconnected(self, reply_channel: str, path: str) -> None:
        """The client left before its response was complete: tell the application."""
        self.spawn(self._send_disconnect(reply_channel, path))

    async def _send_disconnect(self, reply_channel: str, path: str) -> None:
        try:
            await self.layer.send(
                DISCONNECT_CHANNEL, {"reply_channel": reply_channel, "path": path}
            )
        except Exception as exc:
            log.warning("could not send %s for %s: %s", DISCONNECT_CHANNEL, reply_channel, exc)

    def upgrade_hook(self, request: UpgradeRequest) -> Any:
        if self.host is None:
            return None
        return self.host.hook.gateways_http_upgrade(host=self.host, request=request)

    def upgrade_request(self, exchange: Exchange, token: str, raw: bytes) -> UpgradeRequest:
        scheme, client, path = self.scope(exchange)
        return UpgradeRequest(
            upgrade=token,
            method=exchange.method,
            path=path,
            raw_path=exchange.raw_path,
            query_string=exchange.query_string,
            root_path=self.config.root_path,
            headers=exchange.headers,
            scheme=scheme,
            client=client,
            server=exchange.conn.local,
            raw=raw,
        )


def _parse_url(target: bytes) -> Any:
    import httptools

    try:
        return httptools.parse_url(target)
    except httptools.HttpParserInvalidURLError:
        raise Refused(400, "invalid request target") from None
