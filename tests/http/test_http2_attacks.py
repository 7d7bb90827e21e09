"""HTTP/2 clients that misbehave, speaking frames through h2 (and hyperframe for frames
h2 would never send): rapid reset, CONTINUATION, SETTINGS and PING floods, too many
streams, oversized header lists, a stream reset mid-response, a stalled upload. After
each, the server answers a fresh client and its log has no traceback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from gateways_http.body import CHUNK, HIGH_WATER, WINDOW
from gateways_http.h2limits import STREAMING_WINDOW
from h2.errors import ErrorCodes
from h2.events import (
    ResponseReceived,
)
from h2.settings import SettingCodes
from hyperframe.frame import ContinuationFrame, HeadersFrame

from gateways.testing import GatewaysProcess
from tests.fixtures.h2client import H2Client
from tests.fixtures.processes import APPS

MAX_HEADERS = 8192


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
