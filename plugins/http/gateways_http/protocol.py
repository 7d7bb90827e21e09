"""The HTTP/1.1 connection: a Twisted protocol driving the httptools (llhttp) parser.

twisted.web parses in pure Python and is several times slower; llhttp is strict about
framing (it refuses Content-Length with Transfer-Encoding, duplicate lengths and bad
chunk sizes), which is what closes the door on request smuggling.

Pipelined requests are answered one after another: only the first request of the
queue is sent to the layer, the connection stops reading while a second one waits.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from gateways_http import writing
from gateways_http.exchange import Exchange
from gateways_http.handover import UpgradeWait
from gateways_http.request import Address
from gateways_http.response import simple_response

if TYPE_CHECKING:
    from gateways_http.server import HttpServer

log = logging.getLogger("gateways.http")


class Refused(Exception):
    """A request the server refuses before it reaches the application."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _address(address: Any) -> Address:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is None or port is None:
        return None  # a UNIX socket has no host and port
    return [host, port]


class HttpProtocol(Protocol):
    transport: Any  # a TCP, TLS or UNIX transport (zope interfaces do not type-check)

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.config = server.config
        self.queue: deque[Exchange] = deque()
        self.parsing: Exchange | None = None
        self.scheme = "http"
        self.client: Address = None
        self.local: Address = None
        self.closing = False
        self.upgrade: UpgradeWait | None = None
        self._url: list[bytes] = []
        self._url_size = 0
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._header_size = 0
        self._data: bytes = b""
        self._chunks: list[bytes] = []
        self._deadline = 0.0
        self._on_deadline: Any = None
        self._paused: set[str] = set()
        self._in_message = False

    # -- connection ------------------------------------------------------------------

    def connectionMade(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        transport = self.transport
        if ISSLTransport.providedBy(transport):
            self.scheme = "https"
        self.client = _address(transport.getPeer())
        self.local = _address(transport.getHost())
        self.server.connections.add(self)
        self._set_timer(self.config.idle_timeout, self._idle_timeout)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closing = True
        self._cancel_read_timer()
        self.server.connections.discard(self)
        for exchange in self.queue:
            self.cancel_timer(exchange)
            if exchange.pump is not None:
                exchange.pump.cancel()
            if exchange.dispatched and not exchange.finished:
                exchange.finished = True
                self.server.dispatcher.forget(exchange.reply_channel)
                self.server.disconnected(exchange.reply_channel, exchange.path)
        self.queue.clear()
        self.server.check_quiet()

    def dataReceived(self, data: bytes) -> None:
        if self.closing:
            return
        if self.upgrade is not None:
            self.upgrade.more(data)
            return
        self._data = data
        if self._in_message:
            self._chunks.append(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._on_upgrade(data, int(upgrade.args[0]))
        except httptools.HttpParserError as exc:
            refusal = exc.__context__ if isinstance(exc.__context__, Refused) else None
            self.refuse(refusal or Refused(400, f"malformed request: {exc}"))

    def refuse(self, refusal: Refused) -> None:
        """Answer a request the server will not pass on, and close the connection."""
        log.info("refused a request from %s: %d %s", self.client, refusal.status, refusal.reason)
        if self.closing:
            return
        self.closing = True
        if self.parsing is not None and self.parsing not in self.queue:
            self.queue.append(self.parsing)
        pending = [e for e in self.queue if e.started and not e.finished]
        if pending or (self.queue and self.queue[0] is not self.parsing):
            # Earlier requests are still being answered: answering this one now would
            # break the order, so the connection simply ends.
            self.abort()
            return
        self.write(simple_response(refusal.status, refusal.reason, close=True))
        self.transport.loseConnection()

    def write(self, data: bytes) -> None:
        writing.write(self.transport, data)

    def detach(self) -> None:
        """Stop being the connection's protocol (another plugin takes it over)."""
        self.closing = True
        self._cancel_read_timer()
        self.server.connections.discard(self)
        for exchange in self.queue:
            self.cancel_timer(exchange)
        self.queue.clear()
        self.upgrade = None
        if self._paused:
            self._paused.clear()
            self.transport.resumeProducing()

    def abort(self) -> None:
        """End a response that cannot be completed: what was written is flushed, the
        body's end never comes, so the client sees it cut short."""
        self.closing = True
        self.transport.loseConnection()

    def kill(self) -> None:
        """Drop the connection now, unsent data included (the drain grace is over)."""
        self.closing = True
        self.transport.abortConnection()

    # -- timers ----------------------------------------------------------------------
    # Deadlines, not timer handles: the server checks every connection a few times a
    # second (HttpServer.sweep), which costs far less than a timer per request.

    def _set_timer(self, delay: float, callback: Any) -> None:
        self._deadline = self.server.loop.time() + delay
        self._on_deadline = callback

    def _cancel_read_timer(self) -> None:
        self._deadline = 0.0

    def check_deadlines(self, now: float) -> None:
        if self._deadline and now >= self._deadline:
            self._deadline = 0.0
            self._on_deadline()
        if self.queue:
            head = self.queue[0]
            if head.deadline and now >= head.deadline:
                head.deadline = 0.0
                head.on_timeout()

    def _idle_timeout(self) -> None:
        if not self.queue and self.parsing is None and not self.closing:
            self.closing = True
            self.transport.loseConnection()

    def _header_timeout(self) -> None:
        if self._paused:
            self._set_timer(self.config.header_timeout, self._header_timeout)
            return
        self.refuse(Refused(408, "request headers took too long"))

    def cancel_timer(self, exchange: Exchange) -> None:
        exchange.deadline = 0.0

    # -- flow control ----------------------------------------------------------------

    def _pause(self, reason: str, on: bool) -> None:
        was = bool(self._paused)
        if on:
            self._paused.add(reason)
        else:
            self._paused.discard(reason)
        if was != bool(self._paused) and not self.closing:
            if self._paused:
                self.transport.pauseProducing()
            else:
                self.transport.resumeProducing()

    def pause_for_body(self, on: bool) -> None:
        self._pause("body", on)

    # -- parser callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self._url, self._url_size = [], 0
        self._raw_headers, self._header_size = [], 0
        self._chunks = [self._data]
        self._set_timer(self.config.header_timeout, self._header_timeout)

    def on_url(self, url: bytes) -> None:
        self._url.append(url)
        self._url_size += len(url)
        if self._url_size > self.config.max_request_line:
            raise Refused(414, "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))
        self._header_size += len(name) + len(value) + 4
        if (
            self._header_size > self.config.max_headers
            or len(self._raw_headers) > self.config.max_header_count
        ):
            raise Refused(431, "request headers too large")

    def on_headers_complete(self) -> None:
        self._cancel_read_timer()
        parser = self.parser
        url = b"".join(self._url) if len(self._url) != 1 else self._url[0]
        exchange = self.server.new_exchange(
            self,
            parser.get_method().decode("ascii"),
            parser.get_http_version(),
            parser.should_keep_alive(),
            url,
            self._raw_headers,
        )
        self.parsing = exchange
        if self.queue:
            self._pause("pipeline", True)
        self.queue.append(exchange)
        if parser.should_upgrade():
            exchange.upgrade = True  # decided once the whole request is in (_on_upgrade)
            return
        self.server.check_length(exchange)
        if self.queue[0] is exchange:
            self.server.begin(exchange)

    def on_body(self, data: bytes) -> None:
        exchange = self.parsing
        if exchange is None or exchange.finished:
            return
        exchange.body_size += len(data)
        limit = self.config.max_body
        if limit and exchange.body_size > limit:
            raise Refused(413, f"request body larger than {limit} bytes")
        if exchange.pump is not None:
            exchange.pump.push(data)
            return
        exchange.body.append(data)
        if self.queue[0] is exchange and not exchange.upgrade:
            self.server.body_grew(exchange)

    def on_message_complete(self) -> None:
        exchange = self.parsing
        self._in_message = False
        if exchange is None:
            return
        exchange.complete = True
        if exchange.upgrade:
            return  # the parser raises HttpParserUpgrade next
        self.parsing = None
        self._chunks = []
        if exchange.finished:
            self._maybe_idle()
        elif exchange.pump is not None:
            exchange.pump.finish()
        elif not exchange.dispatched and self.queue and self.queue[0] is exchange:
            self.server.dispatch(exchange)

    # -- upgrades ----------------------------------------------------------------------

    def _on_upgrade(self, data: bytes, offset: int) -> None:
        exchange = self.parsing
        if exchange is None or exchange.method == "CONNECT":
            self.refuse(Refused(405, "CONNECT is not supported"))
            return
        received = b"".join(self._chunks) if self._chunks else data
        end = len(received) - (len(data) - offset)
        self.parsing = None
        self._chunks = []
        self.upgrade = UpgradeWait(self, exchange, received, end)
        if self.queue[0] is exchange:
            self.upgrade.decide()

    def resume_parsing(self, remainder: bytes) -> None:
        """After an upgrade nobody took: go on parsing HTTP from a fresh parser."""
        self.upgrade = None
        self.parser = httptools.HttpRequestParser(self)
        if remainder:
            self.dataReceived(remainder)

    # -- after a response --------------------------------------------------------------

    def finish(self, exchange: Exchange, last: bytes = b"") -> None:
        """The response is complete: log it, write its ``last`` bytes, then start the
        next request or wait (logged first, so the log never lags the client)."""
        exchange.finished = True
        self.cancel_timer(exchange)
        if exchange.pump is not None and not exchange.complete:
            exchange.pump.cancel()
        self.server.finished(exchange)
        if last:
            self.write(last)
        if self.queue and self.queue[0] is exchange:
            self.queue.popleft()
        if exchange.close or not exchange.complete or exchange.left:
            self.closing = True
            self.transport.loseConnection()
            return
        if len(self.queue) <= 1:
            self._pause("pipeline", False)
        if self.queue:
            following = self.queue[0]
            if self.upgrade is not None and self.upgrade.exchange is following:
                self.upgrade.decide()
            else:
                self.server.begin(following)
        else:
            self._maybe_idle()

    def _maybe_idle(self) -> None:
        if not self.queue and self.parsing is None and not self.closing:
            if self.server.draining:
                self.closing = True
                self.transport.loseConnection()
            else:
                self._set_timer(self.config.idle_timeout, self._idle_timeout)

    def close_if_idle(self) -> None:
        """Draining: close now unless a request is in progress."""
        if not self.queue and self.parsing is None and not self.closing:
            self.closing = True
            self.transport.loseConnection()
