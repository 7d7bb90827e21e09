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

from gateways.layers import get_layer
from gateways.plugin import BaseChannelLayer, Settings
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
