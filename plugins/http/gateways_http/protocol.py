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

from gateways_http import metrics, writing
from gateways_http.body import CHUNK
from gateways_http.exchange import DISPATCHED, FAILED, FINISHED, RECEIVING, RESPONDING, Exchange
from gateways_http.handover import UpgradeWait
from gateways_http.request import Address, Refused, header_value
from gateways_http.response import simple_response

if TYPE_CHECKING:
    from gateways_http.server import HttpServer

log = logging.getLogger("gateways.http")


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
        self.options = server.options
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
        self._set_timer(self.options.http_idle_timeout, self._idle_timeout)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closing = True
        self._cancel_read_timer()
        server = self.server
        server.connections.discard(self)
        for exchange in self.queue:
            exchange.deadline = 0.0
            if exchange.pump is not None:
                exchange.pump.cancel()
            state = exchange.state
            if state is not FINISHED:
                exchange.state = FAILED
            if state is DISPATCHED or state is RESPONDING:
                server.disconnected(exchange)
        self.queue.clear()
        server.request_ended()

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
        pending = [e for e in self.queue if e.state is RESPONDING]
        if pending or (self.queue and self.queue[0] is not self.parsing):
            # Earlier requests are still being answered: answering this one now would
            # break the order, so the connection simply ends.
            self.abort()
            return
        metrics.RESPONSES.inc(refusal.status)
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
            exchange.deadline = 0.0
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
    # second (HttpServer.sweep_forever), which costs far less than a timer per request.

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
            self._set_timer(self.options.http_header_timeout, self._header_timeout)
            return
        self.refuse(Refused(408, "request headers took too long"))

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
        self._set_timer(self.options.http_header_timeout, self._header_timeout)

    def on_url(self, url: bytes) -> None:
        self._url.append(url)
        self._url_size += len(url)
        if self._url_size > self.options.http_max_request_line:
            raise Refused(414, "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))
        self._header_size += len(name) + len(value) + 4
        if (
            self._header_size > self.options.http_max_headers
            or len(self._raw_headers) > self.options.http_max_header_count
        ):
            raise Refused(431, "request headers too large")

    def on_headers_complete(self) -> None:
        self._cancel_read_timer()
        parser = self.parser
        url = b"".join(self._url) if len(self._url) != 1 else self._url[0]
        exchange = Exchange(
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
        self._check_length(exchange)
        if self.queue[0] is exchange:
            self.begin(exchange)

    def on_body(self, data: bytes) -> None:
        exchange = self.parsing
        if exchange is None or exchange.state is FINISHED:
            return
        exchange.body_size += len(data)
        limit = self.options.http_max_body
        if limit and exchange.body_size > limit:
            raise Refused(413, f"request body larger than {limit} bytes")
        if exchange.pump is not None:
            exchange.pump.push(data)
            return
        exchange.body.append(data)
        if self.queue[0] is exchange and not exchange.upgrade:
            self._body_grew(exchange)

    def on_message_complete(self) -> None:
        exchange = self.parsing
        self._in_message = False
        if exchange is None:
            return
        exchange.received = True
        if exchange.upgrade:
            return  # the parser raises HttpParserUpgrade next
        self.parsing = None
        self._chunks = []
        state = exchange.state
        if state is FINISHED:
            self._maybe_idle()
        elif exchange.pump is not None:
            exchange.pump.finish()
        elif state is RECEIVING and self.queue and self.queue[0] is exchange:
            self.server.dispatch(exchange)

    # -- a request's turn --------------------------------------------------------------

    def begin(self, exchange: Exchange) -> None:
        """``exchange`` is first in line: let its body come, send it when ready."""
        if exchange.expect_continue and not exchange.received:
            exchange.expect_continue = False
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if exchange.received:
            self.server.dispatch(exchange)
        else:
            self._body_grew(exchange)

    def _body_grew(self, exchange: Exchange) -> None:
        """Send a large body's request once its first chunk is in; the rest streams."""
        if exchange.body_size >= CHUNK and exchange.state is RECEIVING:
            self.server.dispatch(exchange)

    def _check_length(self, exchange: Exchange) -> None:
        """Refuse at once a declared body over --http-max-body (before it is sent)."""
        limit = self.options.http_max_body
        declared = header_value(exchange.headers, b"content-length")
        if limit and declared is not None and declared.isdigit() and int(declared) > limit:
            raise Refused(413, f"request body larger than {limit} bytes")

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
        exchange.state = FINISHED
        exchange.deadline = 0.0
        if exchange.pump is not None and not exchange.received:
            exchange.pump.cancel()
        server = self.server
        server.finished(exchange)
        if last:
            self.write(last)
        queue = self.queue
        if queue and queue[0] is exchange:
            queue.popleft()
        if exchange.close or not exchange.received or exchange.left:
            self.closing = True
            self.transport.loseConnection()
        else:
            if len(queue) <= 1:
                self._pause("pipeline", False)
            if not queue:
                self._maybe_idle()
            elif self.upgrade is not None and self.upgrade.exchange is queue[0]:
                self.upgrade.decide()
            else:
                self.begin(queue[0])
        server.request_ended()

    def _maybe_idle(self) -> None:
        if not self.queue and self.parsing is None and not self.closing:
            if self.server.interface.draining:
                self.closing = True
                self.transport.loseConnection()
            else:
                self._set_timer(self.options.http_idle_timeout, self._idle_timeout)

    def in_progress(self) -> int:
        """Requests on this connection that a drain waits for."""
        return len(self.queue) or int(self.parsing is not None)

    def close_if_idle(self) -> None:
        """Draining: close now unless a request is in progress."""
        if not self.queue and self.parsing is None and not self.closing:
            self.closing = True
            self.transport.loseConnection()
