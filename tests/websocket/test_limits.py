"""Limits and safety: origins, sizes, UTF-8, pings, full channels, failures, bad handshakes."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.frames import Close, Opcode

from tests.websocket.conftest import next_close
from tests.websocket.rawclient import RawSocket, request

# -- origins -------------------------------------------------------------------------------


async def test_cross_origin_handshake_is_refused_with_403(served):
    assert await served.refused("/echo", origin="http://evil.example") == 403
    assert await served.refused("/echo", origin="http://127.0.0.1:1") == 403  # other port


async def test_own_host_origin_and_no_origin_are_allowed(served):
    async with served.connect("/echo", origin=f"http://{served.host}:{served.port}") as ws:
        await ws.send("same origin")
        assert await ws.recv() == "same origin"
    async with served.connect("/echo") as ws:  # websockets sends no Origin: not a browser
        await ws.send("no origin")
        assert await ws.recv() == "no origin"


async def test_null_origin_is_refused_by_default(served):
    assert await served.refused("/echo", origin="null") == 403


async def test_allowed_origin_option_replaces_the_default(serve_ws):
    server = serve_ws(
        "--ws-allowed-origin", "https://app.example.com", "--ws-allowed-origin", "*.trusted.test"
    )
    for origin in ("https://app.example.com", "http://chat.trusted.test:8080"):
        async with server.connect("/echo", origin=origin) as ws:
            await ws.send(origin)
            assert await ws.recv() == origin
    assert await server.refused("/echo", origin="http://app.example.com") == 403  # scheme
    assert await server.refused("/echo", origin=f"http://{server.host}:{server.port}") == 403


# -- frames --------------------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "limit"), [("1000", 1000), ("1KiB", 1024)])
async def test_message_over_max_closes_with_1009(serve_ws, flag, limit):
    server = serve_ws("--ws-max-message", flag)
    async with server.connect("/echo") as ws:
        await ws.send("x" * limit)
        assert await ws.recv() == "x" * limit
        await ws.send("x" * (limit + 1))
        assert await next_close(ws) == 1009


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(served):
    raw = await RawSocket.open(served.host, served.port)
    head = await raw.handshake(request("/echo", f"{served.host}:{served.port}"))
    assert head.startswith(b"HTTP/1.1 101")
    await raw.send_frame(Opcode.TEXT, b"caf\xc3(")
    frame = await raw.read_frame()
    await raw.close()
    assert frame is not None
    assert frame.opcode is Opcode.CLOSE
    assert Close.parse(frame.data).code == 1007


async def test_silent_peer_is_pinged_then_dropped(serve_ws):
    server = serve_ws("--ws-ping-interval", "0.3", "--ws-ping-timeout", "1.5")
    raw = await RawSocket.open(server.host, server.port)
    await raw.handshake(request("/echo", f"{server.host}:{server.port}"))
    opened = time.monotonic()
    ping = await raw.read_frame()
    assert ping is not None
    assert ping.opcode is Opcode.PING
    assert await raw.read_frame() is None  # never answered: the server hangs up
    assert time.monotonic() - opened >= 1.5
    await raw.close()


async def test_peer_answering_pings_stays_open(serve_ws):
    server = serve_ws("--ws-ping-interval", "0.3", "--ws-ping-timeout", "1.5")
    async with server.connect("/echo", ping_interval=None) as ws:
        await asyncio.sleep(2.5)  # the elapsed time is the behaviour: many ping rounds
        await ws.send("still open")
        assert await ws.recv() == "still open"


# -- the layer and the consumers ---------------------------------------------------------


async def test_an_open_socket_meeting_a_full_channel_is_read_more_slowly_not_closed(serve_ws):
    # One worker slot, 50 ms per frame, one frame fits in the channel: a burst of 10
    # finds it full (the old contract closed with 1013). The server stops reading the
    # socket and retries; every frame is answered, in order.
    server = serve_ws(
        "--layer", "memory://?channel_capacity=websocket.receive:1", "--concurrency", "1"
    )
    async with server.connect("/slow") as ws:
        for n in range(10):
            await ws.send(str(n))
        assert [await ws.recv() for _ in range(10)] == [str(n) for n in range(10)]
    assert "with 1013" not in server.process.output


async def test_a_new_socket_meeting_a_full_connect_channel_is_refused_with_503(serve_ws):
    # The only worker slot is held; one websocket.connect fits in the channel.
    server = serve_ws(
        "--layer",
        "memory://?channel_capacity=websocket.connect:1",
        "--concurrency",
        "1",
        "--ws-connect-timeout",
        "1",
    )
    async with server.connect("/block") as ws:
        await ws.send("hold")
        assert await ws.recv() == "blocking"  # the worker is busy from now on
        assert await server.refused("/echo") == 503  # waits in the channel: timed out
        started = time.monotonic()
        assert await server.refused("/echo") == 503  # finds the channel full: new work
        assert time.monotonic() - started < 1
        server.process.wait_for(r"websocket.connect is full: refusing with 503 websocket\.send")
        assert ws.close_code is None  # the open socket is not touched


async def test_consumer_failure_closes_with_1011(served):
    async with served.connect("/echo") as ws:
        await ws.send("explode")
        assert await next_close(ws) == 1011
    served.process.wait_for(r"RuntimeError: consumer blew up")


# -- handshakes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Sec-WebSocket-Key": "too-short"}, "bad key"),
        ({"Sec-WebSocket-Key": None}, "no key"),
        ({"Sec-WebSocket-Version": "99"}, "unknown version"),
        ({"Sec-WebSocket-Version": None}, "no version"),
        ({"Connection": "keep-alive, Upgrade", "Origin": "not a url"}, "bad origin"),
    ],
)
async def test_malformed_handshake_gets_400(served, headers, why):
    raw = await RawSocket.open(served.host, served.port)
    head = await raw.handshake(request("/echo", f"{served.host}:{served.port}", headers))
    await raw.close()
    assert head.startswith(b"HTTP/1.1 400"), (why, head)


@pytest.mark.parametrize("value", ["a\x01b", "a\x1b[31mred", "a\x7fb", "a\x00b"])
async def test_header_value_with_control_characters_is_refused(served, value):
    raw = await RawSocket.open(served.host, served.port)
    head = await raw.handshake(request("/echo", f"{served.host}:{served.port}", {"X-Name": value}))
    await raw.close()
    assert head.startswith(b"HTTP/1.1 400"), head
