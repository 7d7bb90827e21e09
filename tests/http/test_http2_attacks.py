"""HTTP/2 clients that misbehave, speaking frames through h2 (and hyperframe for frames
h2 would never send): rapid reset, CONTINUATION, SETTINGS and PING floods, too many
streams, oversized header lists, a stream reset mid-response, a stalled upload. After
each, the server answers a fresh client and its log has no traceback.

``H2Client`` is also what other HTTP/2 tests use when frame order must be exact.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from gateways_http.body import CHUNK, HIGH_WATER, WINDOW
from gateways_http.h2limits import STREAMING_WINDOW
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)
from h2.settings import SettingCodes
from hyperframe.frame import ContinuationFrame, HeadersFrame

from gateways.testing import GatewaysProcess
from tests.fixtures.processes import APPS

MAX_HEADERS = 8192


class H2Client:
    """One cleartext HTTP/2 connection (prior knowledge), driven frame by frame."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(timeout)
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.h2.initiate_connection()
        self.authority = b"127.0.0.1:%d" % port
        self.pending: list[Event] = []  # read, not yet looked at
        self.flush()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, stream_id: int, path: bytes, method: bytes = b"GET", **kwargs: object):
        extra = kwargs.pop("extra", [])
        head = [
            (b":method", method),
            (b":scheme", b"http"),
            (b":authority", self.authority),
            (b":path", path),
        ]
        self.h2.send_headers(stream_id, head + list(extra), end_stream=kwargs.pop("end", True))

    def read(self) -> list[Event]:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        events = self.h2.receive_data(data)
        self.flush()
        return events

    def next_event(self) -> Event:
        while not self.pending:
            self.pending.extend(self.read())
        return self.pending.pop(0)

    def until(self, wanted: Callable[[Event], bool]) -> Event:
        while True:
            event = self.next_event()
            if wanted(event):
                return event

    def goaway(self) -> ConnectionTerminated:
        event = self.until(lambda e: isinstance(e, ConnectionTerminated))
        assert isinstance(event, ConnectionTerminated)
        return event

    def response(self, stream_id: int) -> tuple[int, bytes]:
        """Status and body of ``stream_id`` (status -1 if the stream was reset); the
        events of other streams are kept for later."""
        status, body, others = 0, b"", []
        while True:
            event = self.next_event()
            if getattr(event, "stream_id", None) != stream_id:
                others.append(event)
            elif isinstance(event, ResponseReceived):
                status = int(dict(event.headers)[b":status"])
            elif isinstance(event, DataReceived):
                body += event.data
                self.h2.acknowledge_received_data(event.flow_controlled_length, stream_id)
                self.flush()
            elif isinstance(event, StreamEnded | StreamReset):
                self.pending[:0] = others
                return (-1 if isinstance(event, StreamReset) else status), body

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def server() -> Iterator[GatewaysProcess]:
    """One server for every attack (as the ``http_server`` fixture starts it): each
    attack's connection dies, the server goes on."""
    process = GatewaysProcess(
        ["serve", "http_app:routes", "--plugin", "http", "--http-port", "0",
         "--http-max-headers", str(MAX_HEADERS)],
        env={"PYTHONPATH": str(APPS)},
    )  # fmt: skip
    yield process
    process.kill()


@pytest.fixture
def client(server: GatewaysProcess) -> Iterator[H2Client]:
    made = H2Client(server.port())
    yield made
    made.close()
    # The server still answers a fresh client, and logged no traceback.
    with httpx.Client(http1=False, http2=True, timeout=10) as fresh:
        assert fresh.get(server.url + "/hello").text == "hello"
    assert "Traceback" not in server.output, server.output


def test_rapid_reset_gets_goaway_enhance_your_calm(server, client):
    for n in range(500):  # CVE-2023-44487: open a stream, cancel it, again and again
        client.request(1 + 2 * n, b"/hello")
        client.h2.reset_stream(1 + 2 * n)
    client.flush()
    assert client.goaway().error_code == ErrorCodes.ENHANCE_YOUR_CALM
    server.wait_for("sent too many stream resets: GOAWAY ENHANCE_YOUR_CALM")


def test_continuation_flood_gets_goaway(client):
    block = client.h2.encoder.encode(
        [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"t"), (b":path", b"/")]
    )
    frames = HeadersFrame(1, data=block).serialize()  # no END_HEADERS: CONTINUATION follows
    for _ in range(100):
        frames += ContinuationFrame(1, data=b"x" * 1000).serialize()
    client.sock.sendall(frames)
    # h2 keeps at most 64 CONTINUATION frames of one header block.
    assert client.goaway().error_code == ErrorCodes.PROTOCOL_ERROR


def test_settings_flood_gets_goaway_enhance_your_calm(server, client):
    for n in range(300):
        client.h2.update_settings({SettingCodes.HEADER_TABLE_SIZE: 4096 + n})
    client.flush()
    assert client.goaway().error_code == ErrorCodes.ENHANCE_YOUR_CALM
    server.wait_for("sent too many SETTINGS frames")


def test_ping_flood_gets_goaway_enhance_your_calm(server, client):
    for n in range(300):
        client.h2.ping(b"%08d" % n)
    client.flush()
    assert client.goaway().error_code == ErrorCodes.ENHANCE_YOUR_CALM
    server.wait_for("sent too many PING frames")


def test_more_streams_than_advertised_end_the_connection(client):
    # Sent before reading the server's SETTINGS (MAX_CONCURRENT_STREAMS 100): h2 takes
    # the 101st as a connection error.
    for n in range(101):
        client.request(1 + 2 * n, b"/silent")
    client.flush()
    assert client.goaway().error_code == ErrorCodes.PROTOCOL_ERROR


def test_oversized_header_list_gets_431_then_goaway_past_twice_the_limit(client):
    client.request(1, b"/hello", extra=[(b"x-big", b"a" * MAX_HEADERS)])
    client.flush()
    assert client.response(1) == (431, b"request headers too large\n")
    client.request(3, b"/hello")  # the connection goes on
    client.flush()
    assert client.response(3) == (200, b"hello")
    client.request(5, b"/hello", extra=[(b"x-big", b"a" * (2 * MAX_HEADERS))])
    client.flush()
    assert client.goaway().error_code == ErrorCodes.ENHANCE_YOUR_CALM  # an HPACK bomb


def test_connect_and_declared_oversized_body_are_refused_per_stream(client):
    client.h2.send_headers(1, [(b":method", b"CONNECT"), (b":authority", b"example.com:443")])
    client.request(3, b"/echo", method=b"POST", extra=[(b"content-length", b"999999999999")])
    client.flush()
    assert client.response(1) == (405, b"CONNECT is not supported\n")
    assert client.response(3)[0] == 413
    client.request(5, b"/hello")
    client.flush()
    assert client.response(5) == (200, b"hello")


def test_reset_mid_response_tells_the_consumer(server, client):
    client.request(1, b"/hang")
    client.flush()
    client.until(lambda e: isinstance(e, ResponseReceived))
    started = server.wait_for(r"hang started for (\S+)")
    client.h2.reset_stream(1, ErrorCodes.CANCEL)
    client.flush()
    found = server.wait_for(r"http.disconnect for /hang on (\S+)")
    assert found[1] == started[1]


def test_stalled_upload_holds_its_own_window_not_the_connection(server, client):
    """A consumer that never reads the body: its stream's window stays shut (the
    server holds back WINDOW_UPDATE), while another stream is answered."""
    # What may be in flight before the server holds back: the first chunk (in
    # http.request), the unread chunks in the layer, the pump's queue, the stream's
    # window once streaming (about 2.8 MiB).
    streaming = CHUNK + WINDOW * CHUNK
    held = streaming + HIGH_WATER + CHUNK + STREAMING_WINDOW
    client.sock.settimeout(1.0)
    client.request(1, b"/silent", method=b"POST", end=False)
    sent, piece, deadline = 0, b"x" * 16384, time.monotonic() + 20
    while sent < 4 * held and time.monotonic() < deadline:
        window = client.h2.local_flow_control_window(1)
        if window <= 0:
            try:
                client.read()  # WINDOW_UPDATE, if the server gives any back
            except TimeoutError:
                if sent > streaming:
                    break  # none within a second, the body streaming: the stream is held
            continue
        size = min(window, client.h2.max_outbound_frame_size)
        client.h2.send_data(1, piece[:size])
        client.flush()
        sent += size
    assert streaming < sent <= held
    client.sock.settimeout(10)
    client.request(3, b"/hello")
    client.flush()
    assert client.response(3) == (200, b"hello")
    client.h2.reset_stream(1, ErrorCodes.CANCEL)
    client.flush()
    server.wait_for(r"http.disconnect for /silent")
