"""The HTTP/2 connection: h2 reads and writes the frames, each stream is one exchange.

A connection becomes HTTP/2 three ways (:mod:`gateways_http.handover`): ALPN ``h2`` on
TLS, the connection preface sent first (h2c by prior knowledge), or ``Upgrade: h2c``.
Streams reuse the HTTP/1.1 runtime (:class:`~gateways_http.h2exchange.H2Exchange`):
one ``http.request`` each, ``http_version`` ``"2"``.

Request bodies are flow-controlled per stream: a body pump that is full holds back its
stream's WINDOW_UPDATEs instead of pausing the socket, so the other streams go on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    PingReceived,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import NoSuchStreamError, ProtocolError
from h2.settings import SettingCodes
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from gateways.plugin import Throttled, printable
from gateways_http import metrics, writing
from gateways_http._compat import can_half_close
from gateways_http.body import CHUNK, CLIENT_LEFT, TOO_LARGE
from gateways_http.exchange import FAILED, FINISHED, RECEIVING
from gateways_http.h2exchange import H2Exchange, stock_response
from gateways_http.h2limits import FloodGuard, new_connection, open_windows, widen_stream
from gateways_http.h2request import check_length, read_head
from gateways_http.h2stream import H2Stream
from gateways_http.request import Address, Refused

if TYPE_CHECKING:
    from h2.events import Event

    from gateways_http.h2exchange import Fields
    from gateways_http.server import HttpServer

log = logging.getLogger("gateways.http")
_throttled = Throttled(log)

#: Seconds a closing connection goes on reading (and dropping) what its client sends,
#: so the client reads the GOAWAY before the connection is reset (as HTTP/1.1 does).
LINGER_SECONDS = 2.0


class H2Protocol(Protocol):
    transport: Any  # TCP or TLS (zope interfaces do not type-check)

    def __init__(self, server: HttpServer, scheme: str, client: Address, local: Address) -> None:
        self.server = server
        self.options = server.options
        self.scheme = scheme
        self.client = client
        self.local = local
        self.h2 = new_connection(server.options.http_max_headers)
        self.streams: dict[int, H2Stream] = {}
        self.guard = FloodGuard()
        self.closing = False
        self.draining = False
        self.upgraded = False
        self._deadline = 0.0
        #: Streams the client reset within the data being read: never started.
        self._doomed: set[int] = set()
        #: Answered streams whose request body still comes, by when it is cut off.
        self._lingering: dict[int, float] = {}
        self._flush_due = False

    # -- connection ------------------------------------------------------------------

    def upgrade(self, settings: bytes) -> None:
        """``Upgrade: h2c``: take the client's ``HTTP2-Settings`` (raises when they are
        not valid); stream 1 is the upgrading request (:meth:`adopt`)."""
        self.h2.initiate_upgrade_connection(settings)
        self.upgraded = True

    def connectionMade(self) -> None:
        if not self.upgraded:
            self.h2.initiate_connection()
        open_windows(self.h2)
        self.server.connections.add(self)
        self.flush()
        self._idle()

    def adopt(self, method: str, target: bytes, headers: Fields) -> None:
        """Serve the request that asked for ``Upgrade: h2c`` as stream 1."""
        stream = H2Stream(self, 1)
        stream.received = True
        exchange = H2Exchange(stream, method, target, headers)
        exchange.received = True
        stream.exchange = exchange
        self.streams[1] = stream
        self._deadline = 0.0
        self.server.dispatch(exchange)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closing = True
        self._deadline = 0.0
        self.server.connections.discard(self)
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            stream.gone(CLIENT_LEFT)
        self.server.request_ended()

    def dataReceived(self, data: bytes) -> None:
        if self.closing:
            return  # what a closing client still sends is read and dropped
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as exc:
            _throttled.info(
                f"h2 {type(exc).__name__}",
                "HTTP/2 protocol error from %s: %s",
                self.client,
                printable(str(exc)),
            )
            self._close(None)  # h2 has written its GOAWAY
            return
        self._doomed = {e.stream_id for e in events if type(e) is StreamReset}
        for event in events:
            if self.closing:
                break
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)
        self._doomed = set()
        self.flush()

    def flush(self) -> None:
        self._flush_due = False
        data = self.h2.data_to_send()
        if data and not self.closing:
            writing.write(self.transport, data)

    def _flush_soon(self) -> None:
        """Write at the end of this turn of the loop: the replies of many streams that
        arrive together leave in one write."""
        if not self._flush_due:
            self._flush_due = True
            self.server.loop.call_soon(self.flush)

    # -- events ------------------------------------------------------------------------

    def _on_request(self, event: RequestReceived) -> None:
        stream_id = event.stream_id
        if stream_id in self._doomed:
            return  # reset in the same read: nothing to start
        if self.draining:
            self._send_reset(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        stream = H2Stream(self, stream_id)
        stream.received = event.stream_ended is not None
        self.streams[stream_id] = stream
        self._deadline = 0.0
        try:
            method, target, headers = read_head(event.headers, self.options)
            exchange = H2Exchange(stream, method, target, headers)
            check_length(exchange.headers, self.options.http_max_body)
        except Refused as refusal:
            self._refuse(stream, refusal)
            return
        stream.exchange = exchange
        if exchange.expect_continue and not stream.received:
            self.h2.send_headers(stream_id, [(b":status", b"100")])

    def _on_data(self, event: DataReceived) -> None:
        stream = self.streams.get(event.stream_id)
        exchange = stream.exchange if stream is not None else None
        if stream is None or exchange is None or exchange.state in (FINISHED, FAILED):
            self.acknowledge(event.stream_id, event.flow_controlled_length)
            return  # nobody wants it: dropped, its window given back
        stream.took(event.flow_controlled_length)
        data = event.data
        exchange.body_size += len(data)
        limit = self.options.http_max_body
        if limit and exchange.body_size > limit:
            self._too_large(stream, exchange, limit)
        elif exchange.pump is not None:
            exchange.pump.push(data)
        else:
            exchange.body.append(data)
            if exchange.body_size >= CHUNK and exchange.state is RECEIVING:
                self.server.dispatch(exchange)  # the rest streams on body_channel
                widen_stream(self.h2, stream.stream_id)

    def _on_end(self, event: StreamEnded) -> None:
        self._lingering.pop(event.stream_id, None)
        stream = self.streams.get(event.stream_id)
        if stream is None:
            return
        stream.received = True
        exchange = stream.exchange
        if exchange is None or exchange.state is FAILED:
            return
        exchange.received = True
        if exchange.pump is not None:
            exchange.pump.finish()
        elif exchange.state is RECEIVING:
            self.server.dispatch(exchange)

    def _on_reset(self, event: StreamReset) -> None:
        if self.guard.over("stream resets", self.server.loop.time()):
            self._calm("stream resets")
        self._lingering.pop(event.stream_id, None)
        stream = self.streams.pop(event.stream_id, None)
        if stream is not None:
            stream.gone(CLIENT_LEFT)
            self._forgotten()

    def _on_window(self, event: WindowUpdated) -> None:
        if event.stream_id:
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                self.push(stream)
        else:
            self._push_all()

    def _on_settings(self, event: RemoteSettingsChanged) -> None:
        if self.guard.over("SETTINGS frames", self.server.loop.time()):
            self._calm("SETTINGS frames")
        elif SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
            self._push_all()

    def _on_ping(self, event: PingReceived) -> None:
        if self.guard.over("PING frames", self.server.loop.time()):
            self._calm("PING frames")

    def _on_goaway(self, event: ConnectionTerminated) -> None:
        """The client ends the connection: streams still open are dropped (h2 sends
        nothing more once a GOAWAY is in)."""
        self.closing = True
        self.transport.loseConnection()

    # -- refusals ----------------------------------------------------------------------

    def _refuse(self, stream: H2Stream, refusal: Refused) -> None:
        """Answer a request the server refuses before it reaches the application."""
        _throttled.info(
            f"refused {refusal.status}",
            "refused an HTTP/2 request from %s: %d %s",
            self.client,
            refusal.status,
            refusal.reason,
        )
        metrics.RESPONSES.inc(refusal.status)
        fields, body = stock_response(refusal.status, refusal.reason)
        stream.start(fields)
        stream.ending = True
        stream.write(body)

    def _too_large(self, stream: H2Stream, exchange: H2Exchange, limit: int) -> None:
        _throttled.info(
            "refused 413", "refused an HTTP/2 request from %s: 413 body too large", self.client
        )
        if exchange.pump is not None:
            exchange.pump.abort(TOO_LARGE)
        exchange.fail(413, f"request body larger than {limit} bytes")

    def _calm(self, what: str) -> None:
        _throttled.warning(
            f"h2 {what}",
            "HTTP/2 client %s sent too many %s: GOAWAY ENHANCE_YOUR_CALM",
            self.client,
            what,
        )
        self._close(ErrorCodes.ENHANCE_YOUR_CALM)

    # -- sending -----------------------------------------------------------------------

    def push(self, stream: H2Stream) -> None:
        """Send what the stream has waiting, as far as the flow-control windows allow."""
        if self.closing or stream.closed:
            return
        try:
            ended = self._send(stream)
        except NoSuchStreamError:  # reset by the client in the same read
            self.streams.pop(stream.stream_id, None)
            stream.gone(CLIENT_LEFT)
            self._forgotten()
            return
        except ProtocolError as exc:  # h2 refuses what the reply would send
            _throttled.error("h2 send", "cannot send an HTTP/2 response: %s", exc)
            self.reset(stream, ErrorCodes.INTERNAL_ERROR)
            return
        if ended:
            self._ended(stream)
        self._flush_soon()

    def _send(self, stream: H2Stream) -> bool:
        """Frames for ``stream``; True once its END_STREAM is out."""
        h2, stream_id, outbox = self.h2, stream.stream_id, stream.outbox
        if stream.head is not None:
            fields, stream.head = stream.head, None
            end = stream.ending and not outbox
            h2.send_headers(stream_id, fields, end_stream=end)
            if end:
                return True
        while outbox or stream.ending:
            window = h2.local_flow_control_window(stream_id)
            size = min(len(outbox), window, h2.max_outbound_frame_size)
            if outbox and size <= 0:
                return False  # WindowUpdated resumes
            end = stream.ending and size == len(outbox)
            h2.send_data(stream_id, bytes(outbox[:size]), end_stream=end)
            del outbox[:size]
            if end:
                return True
        return False

    def _ended(self, stream: H2Stream) -> None:
        """The response is out. A request still sending its body may finish for a
        moment (read and dropped: many clients read no answer before their upload is
        done), then is told to stop (RST_STREAM NO_ERROR, RFC 9113 8.1)."""
        stream.closed = True
        if not stream.received:
            self._lingering[stream.stream_id] = self.server.loop.time() + LINGER_SECONDS
        self.streams.pop(stream.stream_id, None)
        self._forgotten()

    def _push_all(self) -> None:
        for stream in list(self.streams.values()):
            if stream.outbox:
                self.push(stream)

    def reset(self, stream: H2Stream, code: ErrorCodes) -> None:
        """End ``stream`` now (a response that cannot be completed)."""
        if stream.closed:
            return
        self._send_reset(stream.stream_id, code)
        self.streams.pop(stream.stream_id, None)
        stream.gone(CLIENT_LEFT)
        self._forgotten()
        self._flush_soon()

    def _send_reset(self, stream_id: int, code: ErrorCodes) -> None:
        try:
            self.h2.reset_stream(stream_id, code)
        except NoSuchStreamError:
            pass  # already closed

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Give ``size`` bytes of window back to the client (stream and connection)."""
        if size and not self.closing:
            try:
                self.h2.acknowledge_received_data(size, stream_id)
            except NoSuchStreamError:
                pass
            self._flush_soon()

    # -- the end of streams and of the connection ------------------------------------

    def _forgotten(self) -> None:
        """A stream is done: a drain may be over, or the connection idle."""
        self.server.request_ended()
        if not self.streams:
            if self.draining:
                self._close(ErrorCodes.NO_ERROR)
            else:
                self._idle()

    def _idle(self) -> None:
        self._deadline = self.server.loop.time() + self.options.http_idle_timeout

    def _close(self, code: ErrorCodes | None) -> None:
        """Send GOAWAY (``code``; None: h2 has queued one) and close once it is out,
        reading and dropping what the client still sends for a moment."""
        if self.closing:
            return
        if code is not None:
            self.h2.close_connection(code)
        self.flush()
        self.closing = True
        transport = self.transport
        if can_half_close(transport):
            transport.loseWriteConnection()
            self._deadline = self.server.loop.time() + LINGER_SECONDS
        else:
            transport.loseConnection()

    # -- what HttpServer and HttpInterface call -----------------------------------------

    def check_deadlines(self, now: float) -> None:
        if self._deadline and now >= self._deadline:
            self._deadline = 0.0
            if self.closing:
                self.transport.loseConnection()  # the linger is over
            elif not self.streams:
                self._close(ErrorCodes.NO_ERROR)  # idle
        for stream in list(self.streams.values()):
            exchange = stream.exchange
            if exchange is not None and exchange.deadline and now >= exchange.deadline:
                exchange.deadline = 0.0
                exchange.on_timeout()
        if self._lingering:
            self._cut_lingering(now)

    def _cut_lingering(self, now: float) -> None:
        for stream_id, until in list(self._lingering.items()):
            if now >= until and not self.closing:
                del self._lingering[stream_id]
                self._send_reset(stream_id, ErrorCodes.NO_ERROR)
                self._flush_soon()

    def in_progress(self) -> int:
        return 0 if self.closing else len(self.streams)

    def buffered(self) -> tuple[int, int, int]:
        """As :meth:`HttpProtocol.buffered`. Heads are h2's to hold (at most a frame and
        64 CONTINUATION frames) and not counted."""
        body = unread = 0
        for stream in self.streams.values():
            exchange = stream.exchange
            if exchange is not None:
                body += exchange.held
                if exchange.pump is not None:
                    unread += exchange.pump.unread * CHUNK
        return 0, body, unread

    def close_if_idle(self) -> None:
        """Draining: new streams are refused (REFUSED_STREAM, safe to retry); GOAWAY
        and close once the streams in progress are done (h2 sends nothing after a
        GOAWAY, so it cannot come first)."""
        self.draining = True
        if not self.streams:
            self._close(ErrorCodes.NO_ERROR)

    def kill(self) -> None:
        self.closing = True
        self.transport.abortConnection()


_HANDLERS: dict[type[Event], Any] = {
    RequestReceived: H2Protocol._on_request,
    DataReceived: H2Protocol._on_data,
    StreamEnded: H2Protocol._on_end,
    StreamReset: H2Protocol._on_reset,
    WindowUpdated: H2Protocol._on_window,
    RemoteSettingsChanged: H2Protocol._on_settings,
    PingReceived: H2Protocol._on_ping,
    ConnectionTerminated: H2Protocol._on_goaway,
}
