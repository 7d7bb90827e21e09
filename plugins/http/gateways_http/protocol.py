"""The HTTP/1.1 connection: a Twisted protocol driving the httptools (llhttp) parser.

twisted.web parses in pure Python and is several times slower; llhttp is strict about
framing (it refuses Content-Length with Transfer-Encoding, duplicate lengths and bad
chunk sizes), which is what closes the door on request smuggling.

Pipelined requests are answered one after another: only the first request of the
queue is sent to the layer, the connection stops reading while a second one waits.
Every complete request is answered, in order, before the connection closes for what
follows it (a refused request, or the client shutting its sending side).

What a connection holds stays bounded: the head of a request by the header limits
(including a header line that never ends, which only a byte count can see: the parser
keeps it whole), a body by the pump's window (:mod:`gateways_http.body`).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools
from twisted.internet.interfaces import IHalfCloseableProtocol, ISSLTransport
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from gateways.plugin import Throttled
from gateways_http import metrics, writing
from gateways_http._compat import can_half_close
from gateways_http.body import CHUNK, CLIENT_LEFT, CLOSED, MALFORMED, TOO_LARGE
from gateways_http.exchange import DISPATCHED, FAILED, FINISHED, RECEIVING, RESPONDING, Exchange
from gateways_http.handover import UpgradeWait, sniff
from gateways_http.request import Address, Refused, check_head, header_value
from gateways_http.response import simple_response

if TYPE_CHECKING:
    from gateways_http.server import HttpServer

log = logging.getLogger("gateways.http")
_throttled = Throttled(log)

#: Seconds a closing connection goes on reading (and dropping) what its client sends,
#: so the client reads the last answer before the connection is reset.
LINGER_SECONDS = 2.0
#: Why a streamed body ends early, by the status the request is refused with.
_CUT_BY = {413: TOO_LARGE, 400: MALFORMED}


def _address(address: Any) -> Address:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is None or port is None:
        return None  # a UNIX socket has no host and port
    return [host, port]


@implementer(IHalfCloseableProtocol)
class HttpProtocol(Protocol):
    transport: Any  # a TCP, TLS or UNIX transport (zope interfaces do not type-check)

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.options = server.options
        self._clock = server.loop.time
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
        #: The bytes of the request being read, kept while its head is (and for a
        #: request asking for an upgrade, which a protocol taking over replays).
        self._raw: list[bytes] = []
        self._raw_size = 0
        self._keep_raw = False
        #: Parser callbacks so far, and bytes fed since the last one: a header line
        #: still growing is the parser's alone, seen only as bytes without callbacks.
        self._events = 0
        self._quiet = 0
        self._deadline = 0.0
        self._on_deadline: Any = None
        self._paused: set[str] = set()
        self._in_message = False
        #: No more requests are read (one was refused, or the client shut its side).
        self._input_done = False
        self._read_closed = False
        #: Written once every request in the queue is answered; then the connection closes.
        self._ending: bytes | None = None
        #: The connection's first bytes are looked at for HTTP/2 (ALPN, preface).
        self._sniffing = True
        self._sniffed = b""
        #: A declined upgrade whose body is parsed behind a stand-in head (resume_body).
        self._adopt: Exchange | None = None

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
            exchange.client_left(CLIENT_LEFT)
        self.queue.clear()
        self.parsing = None
        self.upgrade = None
        self._release_raw()
        # The parser may hold a partial header line, and it refers back to this
        # protocol: let both go now rather than at the next garbage collection.
        self.parser = httptools.HttpRequestParser(None)
        server.request_ended()

    def readConnectionLost(self) -> None:
        """The client shut its sending side (``shutdown(SHUT_WR)``): it still reads.
        Answer every complete request, then close; an unfinished one never will be."""
        self._read_closed = True
        if self.closing:
            self.transport.loseConnection()  # lingering: the client is done too
            return
        if self.queue and self.queue[0].state is RESPONDING:
            # Half-closing clients do so once the request is sent, before any answer;
            # an end of input while a response streams is a client that left (as
            # nginx takes it), and the application hears of it now.
            self.transport.loseConnection()
            return
        self._cut_input(self.parsing, CLIENT_LEFT)
        if self._ending is None:
            self._end_with(b"")

    def writeConnectionLost(self) -> None:
        """Our sending side is shut (a lingering close): reading goes on until it ends."""

    def dataReceived(self, data: bytes) -> None:
        if self.closing or self._input_done:
            return  # what a closing client still sends is read and dropped
        if self.upgrade is not None:
            self.upgrade.more(data)
            return
        if self._sniffing:
            data = self._sniffed + data
            seen = sniff(self, data)
            if seen is None:
                return  # HTTP/2 took over
            if not seen:
                self._sniffed = data  # an HTTP/2 preface, perhaps, still arriving
                return
            self._sniffing, self._sniffed = False, b""
        self._data = data
        if self._keep_raw:
            self._raw.append(data)
            self._raw_size += len(data)
        events = self._events
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._on_upgrade(data, int(upgrade.args[0]))
            return
        except httptools.HttpParserError as exc:
            self.refuse(_refusal(exc))
            return
        if self._events != events:
            self._quiet = 0
        else:
            self._quiet += len(data)
            if self._quiet > self.options.http_max_headers:
                self._refuse_endless_line()

    def _refuse_endless_line(self) -> None:
        """More bytes than a whole header block, and the parser has not finished a
        line: it would keep them all. (Outside a request only line ends are skipped.)"""
        if self._in_message:
            self.refuse(Refused(431, "request header line too long"))
        else:
            self.refuse(Refused(400, "malformed request"))

    def refuse(self, refusal: Refused, exchange: Exchange | None = None) -> None:
        """Refuse the request being read (or ``exchange``): the requests before it are
        answered first, then the refusal; then the connection closes."""
        _throttled.info(
            f"refused {refusal.status}",
            "refused a request from %s: %d %s",
            self.client,
            refusal.status,
            refusal.reason,
        )
        if self.closing:
            return
        refused = self._cut_input(exchange or self.parsing, _CUT_BY.get(refusal.status, CLOSED))
        if refused is not None:
            # The application has it already (its body was streaming in): answer in
            # its place (or cut its response short, if one has begun).
            refused.fail(refusal.status, refusal.reason)
            return
        if self._ending:
            return  # an earlier refusal is waiting its turn
        metrics.RESPONSES.inc(refusal.status)
        self._end_with(simple_response(refusal.status, refusal.reason, close=True))

    def _cut_input(self, exchange: Exchange | None, reason: str) -> Exchange | None:
        """Read no more requests. ``exchange`` (the one being read) will never be
        complete: its body stream ends with ``reason``; it is dropped unless the
        application has it already (then it is returned)."""
        self._input_done = True
        self._pause("input", True)
        self.parsing = None
        self._release_raw()
        if exchange is None:
            return None
        if exchange.pump is not None:
            exchange.pump.abort(reason)
        if exchange.state is not RECEIVING:
            return exchange if exchange.state in (DISPATCHED, RESPONDING) else None
        exchange.state = FAILED  # never sent to the layer
        if exchange in self.queue:
            self.queue.remove(exchange)
        return None

    def _end_with(self, last: bytes) -> None:
        """Once the queue is answered, write ``last`` and close."""
        self._ending = last
        if not self.queue:
            self._write_ending()

    def _write_ending(self) -> None:
        if self._ending:
            self.write(self._ending)
        self._close()

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
        self._close()

    def kill(self) -> None:
        """Drop the connection now, unsent data included (the drain grace is over)."""
        self.closing = True
        self.transport.abortConnection()

    def _close(self) -> None:
        """Close once what is written has gone. A plain socket shuts its sending side
        first and reads (dropping it) what the client still sends for a moment: closing
        on unread bytes resets the connection, and a reset can destroy the answer
        before the client reads it."""
        if self.closing:
            return
        self.closing = True
        transport = self.transport
        if self._read_closed or not can_half_close(transport):
            transport.loseConnection()
            return
        transport.loseWriteConnection()
        if self._paused:
            self._paused.clear()
            transport.resumeProducing()
        self._set_timer(LINGER_SECONDS, transport.loseConnection)

    # -- what it holds ---------------------------------------------------------------

    def buffered(self) -> tuple[int, int, int]:
        """Bytes held for this connection's requests: of unfinished heads, of bodies on
        their way to the layer, and of body chunks sent that no consumer has read yet."""
        body = unread = 0
        for exchange in self.queue:
            body += exchange.held
            if exchange.pump is not None:
                unread += exchange.pump.unread * CHUNK
        head = self._raw_size + (len(self.upgrade.raw) if self.upgrade is not None else 0)
        return head, body, unread

    def _release_raw(self) -> None:
        if self._keep_raw or self._raw:  # a request releases it twice (head, end)
            self._keep_raw = False
            self._raw, self._raw_size = [], 0

    # -- timers ----------------------------------------------------------------------
    # Deadlines, not timer handles: the server checks every connection a few times a
    # second (HttpServer.sweep_forever), which costs far less than a timer per request.

    def _set_timer(self, delay: float, callback: Any) -> None:
        self._deadline = self._clock() + delay
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
        if not self.queue and self.parsing is None:
            self._close()

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
        self._events += 1
        self._in_message = True
        self._url, self._url_size = [], 0
        self._raw_headers, self._header_size = [], 0
        self._raw, self._raw_size, self._keep_raw = [self._data], len(self._data), True
        self._set_timer(self.options.http_header_timeout, self._header_timeout)

    def on_url(self, url: bytes) -> None:
        self._events += 1
        self._url.append(url)
        self._url_size += len(url)
        if self._url_size > self.options.http_max_request_line:
            raise Refused(414, "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._events += 1
        self._raw_headers.append((name, value))
        self._header_size += len(name) + len(value) + 4
        if (
            self._header_size > self.options.http_max_headers
            or len(self._raw_headers) > self.options.http_max_header_count
        ):
            raise Refused(431, "request headers too large")

    def on_headers_complete(self) -> None:
        self._events += 1
        self._deadline = 0.0  # the header timeout (_cancel_read_timer)
        if self._adopt is not None:
            self._adopt_body()
            return
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
        check_head(exchange.version, exchange.headers)
        self.parsing = exchange
        if self.queue:
            self._pause("pipeline", True)
        self.queue.append(exchange)
        if parser.should_upgrade():
            exchange.upgrade = True  # decided once the whole request is in (_on_upgrade)
            return
        self._release_raw()
        self._check_length(exchange)
        if self.queue[0] is exchange:
            self.begin(exchange)

    def on_body(self, data: bytes) -> None:
        self._events += 1
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
        if exchange.upgrade and exchange.body_size > CHUNK:
            raise Refused(413, f"an upgrade request's body must fit in {CHUNK} bytes")
        exchange.body.append(data)
        if self.queue[0] is exchange and not exchange.upgrade:
            self._body_grew(exchange)

    def on_chunk_header(self) -> None:
        self._events += 1

    def on_chunk_complete(self) -> None:
        self._events += 1

    def on_message_complete(self) -> None:
        self._events += 1
        exchange = self.parsing
        self._in_message = False
        if exchange is None:
            return
        exchange.received = True
        if exchange.upgrade:
            return  # the parser raises HttpParserUpgrade next
        self.parsing = None
        self._release_raw()
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
        if not limit:
            return
        declared = header_value(exchange.headers, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Refused(413, f"request body larger than {limit} bytes")

    # -- upgrades ----------------------------------------------------------------------

    def _on_upgrade(self, data: bytes, offset: int) -> None:
        exchange = self.parsing
        if exchange is None or exchange.method == "CONNECT":
            self.refuse(Refused(405, "CONNECT is not supported"))
            return
        received = b"".join(self._raw) if self._raw else data
        end = len(received) - (len(data) - offset)
        self.parsing = None
        self._release_raw()
        self.upgrade = UpgradeWait(self, exchange, received, end)
        if self.queue[0] is exchange:
            self.upgrade.decide()

    def resume_body(self, exchange: Exchange, remainder: bytes) -> None:
        """After a declined upgrade whose request has a body. llhttp skipped the body
        (an upgrade's next bytes belong to the new protocol): it is parsed now, behind
        a stand-in head with the request's framing, for the same exchange."""
        self.upgrade = None
        exchange.upgrade = False
        exchange.received = False
        self.parser = httptools.HttpRequestParser(self)
        self._adopt = exchange
        self.dataReceived(_stand_in_head(exchange) + remainder)

    def _adopt_body(self) -> None:
        exchange, self._adopt = self._adopt, None
        assert exchange is not None
        self.parsing = exchange
        self._release_raw()
        self._check_length(exchange)
        if self.queue and self.queue[0] is exchange:
            self.begin(exchange)

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
            exchange.pump.abort(CLOSED)
        server = self.server
        server.finished(exchange)
        if last:
            writing.write(self.transport, last)
        queue = self.queue
        if queue and queue[0] is exchange:
            queue.popleft()
        if exchange.close or not exchange.received or exchange.left:
            self._close()
        elif not queue and self._ending is not None:
            self._write_ending()
        else:
            if len(queue) <= 1 and self._paused:
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
                self._close()
            else:
                self._set_timer(self.options.http_idle_timeout, self._idle_timeout)

    def in_progress(self) -> int:
        """Requests on this connection that a drain waits for (none once closing: what
        is left is flushed, or dropped with the connection)."""
        if self.closing:
            return 0
        return len(self.queue) or int(self.parsing is not None)

    def close_if_idle(self) -> None:
        """Draining: close now unless a request is in progress."""
        if not self.queue and self.parsing is None:
            self._close()


def _stand_in_head(exchange: Exchange) -> bytes:
    """A request head with ``exchange``'s body framing (llhttp checked it already)."""
    if header_value(exchange.headers, b"transfer-encoding") is not None:
        framing = b"transfer-encoding: chunked"
    else:
        framing = b"content-length: " + (header_value(exchange.headers, b"content-length") or b"0")
    return b"POST / HTTP/1.1\r\nhost: _\r\n" + framing + b"\r\n\r\n"


def _refusal(exc: httptools.HttpParserError) -> Refused:
    """What to answer a request the parser stopped on. A callback's own exception
    that is not a refusal is a bug: logged with its traceback, answered 400."""
    cause = exc.__context__
    if isinstance(cause, Refused):
        return cause
    if cause is not None:
        log.error("the HTTP parser's callback failed", exc_info=cause)
    return Refused(400, f"malformed request: {exc}")
