"""Communicators on a Redis layer from the gateways_layer fixture: the same consumers,
the same answers, through a real redis-server."""

from __future__ import annotations

import pytest

from gateways.testing import HttpCommunicator, IrcCommunicator, WebsocketCommunicator
from tests.apps import http_app, irc_app, websocket_app

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def gateways_layer_url(redis_layer_url):
    return redis_layer_url


async def test_http_on_redis(gateways_layer):
    assert type(gateways_layer).__module__.startswith("gateways.layers.redis")
    comm = HttpCommunicator(http_app.routes, "GET", "/stream/2", layer=gateways_layer)
    assert (await comm.get_response()).body == b"part 0\npart 1\n"


async def test_websocket_rooms_on_redis(gateways_layer):
    first = WebsocketCommunicator(websocket_app.routes, "/room/r", layer=gateways_layer)
    second = WebsocketCommunicator(websocket_app.routes, "/room/r", layer=gateways_layer)
    assert await first.connect() and await second.connect()
    for n in range(5):
        await first.send_text(f"m{n}")
    assert [await second.receive_text() for _ in range(5)] == [f"m{n}" for n in range(5)]
    await first.disconnect()
    await second.disconnect()


async def test_irc_on_redis(gateways_layer):
    comm = IrcCommunicator(irc_app.routes, layer=gateways_layer)
    assert await comm.say("#c", "ada", "!echo hi") == [{"channel": "#c", "body": "echo hi"}]
