"""The websocket interface on the plugin SDK, in-process: a real memory layer, sockets
fed bytes through Twisted's StringTransport (the client's side played by hand)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from gateways_http.upgrade import UpgradeRequest
from gateways_websocket.protocol import WebSocketProtocol
from gateways_websocket.server import WebSocketServer
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from websockets.frames import Close, Frame, Opcode

from gateways import flow
from gateways.layers import get_layer
from gateways.layers.ordering import PROGRESS_KEY
from gateways.plugin import BaseChannelLayer, Settings
from tests.core.test_interface import wait_until
from tests.websocket.rawclient import Transport, frames_sent, request


@pytest.fixture
async def layer() -> AsyncIterator[BaseChannelLayer]:
    built = get_layer("memory://")
    yield built
    await built.close()


def arrive(server: WebSocketServer, path: str) -> tuple[WebSocketProtocol, Transport]:
    """What the http plugin does with an ``Upgrade: websocket`` request."""
    raw = request(path, "example.com")
    upgrade = UpgradeRequest(
        upgrade="websocket",
        method="GET",
        path=path,
        raw_path=path.encode(),
        query_string=b"",
        root_path="",
        headers=[[b"host", b"example.com"], [b"upgrade", b"websocket"]],
        scheme="http",
        client=["127.0.0.1", 50000],
        server=["127.0.0.1", 8000],
        raw=raw,
    )
    protocol, transport = server.build(upgrade), Transport()
    protocol.makeConnection(transport)
    protocol.dataReceived(raw)
    return protocol, transport


async def opened(protocol: WebSocketProtocol) -> None:
    await protocol.is_open.asFuture(asyncio.get_running_loop())


async def next_message(layer: BaseChannelLayer, channel: str) -> dict[str, Any]:
    found, message = await layer.receive([channel], timeout=5)
    assert found == channel, f"nothing on {channel}"
    return message


async def test_socket_arriving_before_start_is_announced_once_started(layer):
    server = WebSocketServer(SimpleNamespace(settings=Settings({}), layer=layer))
    protocol, transport = arrive(server, "/early")  # the http port opened first
    await server.start()
    try:
        connect = await next_message(layer, "websocket.connect")
        assert connect["path"] == "/early"
        assert connect["reply_channel"].startswith(server.prefix)
        assert server.outstanding() == 1
        await layer.send(connect["reply_channel"], {"accept": True, "text": "hi"})
        await opened(protocol)
        [frame] = frames_sent(transport)
        assert frame.data == b"hi"
    finally:
        await server.drain(0)


async def test_drain_closes_with_1001_and_ends_when_the_peer_has_closed(layer):
    server = WebSocketServer(SimpleNamespace(settings=Settings({}), layer=layer))
    await server.start()
    protocol, transport = arrive(server, "/room")
    connect = await next_message(layer, "websocket.connect")
    await layer.send(connect["reply_channel"], {"accept": True})
    await opened(protocol)

    transport.wrote.clear()
    draining = asyncio.create_task(server.drain(30))
    await asyncio.wait_for(transport.wrote.wait(), 5)
    [close] = frames_sent(transport)
    assert Close.parse(close.data).code == 1001
    answer = Frame(Opcode.CLOSE, Close(1001, "").serialize())
    protocol.dataReceived(answer.serialize(mask=True, extensions=[]))
    assert transport.disconnecting  # autobahn hung up: the reactor reports it lost
    protocol.connectionLost(Failure(ConnectionDone()))
    await asyncio.wait_for(draining, 5)  # not the 30 s grace
    disconnect = await next_message(layer, "websocket.disconnect")
    assert (disconnect["code"], disconnect["order"]) == (1001, 1)
    assert server.outstanding() == 0


async def open_socket(
    layer: BaseChannelLayer, path: str = "/echo", **settings: Any
) -> tuple[WebSocketServer, WebSocketProtocol, Transport, str]:
    """A started server and one socket on it, accepted; the socket's reply channel."""
    server = WebSocketServer(SimpleNamespace(settings=Settings(settings), layer=layer))
    await server.start()
    protocol, transport = arrive(server, path)
    connect = await next_message(layer, "websocket.connect")
    await layer.send(connect["reply_channel"], {"accept": True})
    await opened(protocol)
    transport.clear()
    return server, protocol, transport, connect["reply_channel"]


def frames_since_open(transport: Transport) -> list[Frame]:
    """The frames written since :func:`open_socket` cleared the transport."""
    since = Transport()
    since.write(b"\r\n\r\n" + transport.value())  # frames_sent skips a head
    return frames_sent(since)


def client_sends(protocol: WebSocketProtocol, *texts: str) -> None:
    """Text frames from the client, as one TCP read."""
    frames = [Frame(Opcode.TEXT, t.encode()).serialize(mask=True, extensions=[]) for t in texts]
    protocol.dataReceived(b"".join(frames))


async def test_a_socket_past_its_window_is_not_read_until_a_worker_catches_up(layer):
    server, protocol, transport, group = await open_socket(layer)
    try:
        texts = [str(n) for n in range(1, 41)]
        client_sends(protocol, *texts)  # 40 frames in one read: more than the window
        await wait_until(lambda: transport.producerState == "paused")
        receives = [await next_message(layer, "websocket.receive") for _ in range(31)]
        assert [m["text"] for m in receives] == texts[:31]  # connect + 31: the window
        assert [m["__seq__"] for m in receives] == list(range(1, 32))
        assert [m["order"] for m in receives] == list(range(1, 32))
        found, _ = await layer.receive(["websocket.receive"], timeout=0.2)
        assert found is None  # nothing more leaves while the window is full

        # A worker ends message 15 (half the window): the layer says to wake the socket.
        assert await layer.order_end(group, 15) == (None, True)
        await layer.send(group, {PROGRESS_KEY: 15})
        await wait_until(lambda: transport.producerState == "producing")
        rest = [await next_message(layer, "websocket.receive") for _ in range(9)]
        assert [m["text"] for m in rest] == texts[31:]
        assert transport.value() == b""  # nothing was said to the client
    finally:
        await server.drain(0)


async def test_a_channel_full_for_the_whole_wait_closes_an_open_socket_with_1013(
    layer, monkeypatch
):
    monkeypatch.setattr(flow, "FULL_WAIT", 0.3)
    full = get_layer("memory://?channel_capacity=websocket.receive:2")
    server, protocol, transport, _ = await open_socket(full)
    try:
        client_sends(protocol, "1", "2", "3")  # nobody consumes: the third finds it full
        await wait_until(lambda: transport.producerState == "paused")
        await wait_until(lambda: transport.value() != b"")
        [close] = frames_since_open(transport)
        assert Close.parse(close.data).code == 1013
        assert transport.producerState == "producing"  # the peer's close frame is read
        answer = Frame(Opcode.CLOSE, Close(1013, "").serialize())
        protocol.dataReceived(answer.serialize(mask=True, extensions=[]))
        protocol.connectionLost(Failure(ConnectionDone()))
        disconnect = await next_message(full, "websocket.disconnect")
        # order counts every frame; __seq__ goes on from the last one that reached the
        # layer, so the workers run the disconnect at once.
        assert (disconnect["code"], disconnect["order"], disconnect["__seq__"]) == (1013, 4, 3)
    finally:
        await server.drain(0)
        await full.close()


async def test_a_paused_socket_is_not_dropped_for_a_pong_it_cannot_read(layer):
    server, protocol, transport, _ = await open_socket(
        layer, ws_ping_interval=0.1, ws_ping_timeout=0.3
    )
    try:
        protocol.pause_reading()
        await wait_until(lambda: any(f.opcode is Opcode.PING for f in frames_since_open(transport)))
        await asyncio.sleep(0.8)  # the elapsed time is the behaviour: two ping timeouts
        assert not transport.disconnecting
        protocol.resume_reading()  # still no pong: now the peer is late, and dropped
        await wait_until(lambda: transport.disconnecting, timeout=2)
    finally:
        await server.drain(0)
