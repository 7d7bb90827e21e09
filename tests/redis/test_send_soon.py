"""``send_soon``: a send begun at once on the command connection and settled by a
callback (the interface's hot path, one per HTTP request) keeps every outcome of
``send``: delivery in order, ChannelFull, a script the server lost, an outage."""

from __future__ import annotations

import pytest

from gateways import metrics
from gateways.layers import ChannelFull, LayerUnavailable, MessageTooLarge

pytestmark = pytest.mark.timeout(30)


async def opened(layer):
    """A layer whose command connection is open (send_soon begins nothing before)."""
    await layer.send("test.warm", {})
    return layer


async def test_sends_begun_at_once_arrive_in_order_with_sends_awaited(redis_layer_url, open_layer):
    layer = await opened(open_layer(redis_layer_url))
    soon = [layer.send_soon("test.soon", {"n": n}) for n in range(3)]
    assert all(sent is not None for sent in soon)
    await layer.send("test.soon", {"n": 3})
    for sent in soon:
        assert await sent is None
    got = [(await layer.receive(["test.soon"], timeout=1))[1]["n"] for _ in range(4)]
    assert got == [0, 1, 2, 3]


async def test_a_full_channel_fails_the_future_and_is_counted(
    redis_layer_url, open_layer, monkeypatch
):
    monkeypatch.setattr(metrics, "ON", True)
    layer = await opened(open_layer(redis_layer_url, capacity=1))
    full = ("test.soon-full", "channel_full")
    before, sent_before = metrics.REFUSED.counts[full], metrics.SENT.counts["test.soon-full"]
    assert await layer.send_soon("test.soon-full", {"n": 1}) is None
    with pytest.raises(ChannelFull, match=r"test\.soon-full"):
        await layer.send_soon("test.soon-full", {"n": 2})
    assert metrics.REFUSED.counts[full] == before + 1
    assert metrics.SENT.counts["test.soon-full"] == sent_before + 1
    assert await layer.receive(["test.soon-full"], timeout=1) == ("test.soon-full", {"n": 1})


async def test_bad_names_and_oversized_messages_raise_at_once(redis_layer_url, open_layer):
    layer = await opened(open_layer(redis_layer_url, max_message_size=100))
    with pytest.raises(ValueError):
        layer.send_soon("bad name", {})
    with pytest.raises(MessageTooLarge):
        layer.send_soon("test.soon", {"blob": "x" * 200})


async def test_a_script_the_server_lost_is_loaded_and_the_message_still_sent(
    redis_server, redis_layer_url, open_layer
):
    layer = await opened(open_layer(redis_layer_url))
    with redis_server.client() as client:
        client.script_flush()  # as after a restart or failover: NOSCRIPT for the next call
    sent = layer.send_soon("test.soon-flushed", {"n": 1})
    assert sent is not None
    await sent
    got = await layer.receive(["test.soon-flushed"], timeout=1)
    assert got == ("test.soon-flushed", {"n": 1})
    assert await layer.receive(["test.soon-flushed"], timeout=0.1) == (None, None)  # once


async def test_an_outage_fails_the_future_with_layer_unavailable(make_redis_server, open_layer):
    server = make_redis_server()
    layer = await opened(open_layer(server.url))
    server.kill()
    sent = layer.send_soon("test.soon", {})  # the loop has not seen the close yet
    assert sent is not None
    with pytest.raises(LayerUnavailable, match=server.address):
        await sent
    assert layer.send_soon("test.soon", {}) is None  # nothing begun: send() says why
    with pytest.raises(LayerUnavailable):
        await layer.send("test.soon", {})


async def test_durable_channels_and_a_closed_connection_take_the_long_way(
    redis_layer_url, open_layer
):
    fresh = open_layer(redis_layer_url, durable_channels=["test.durable"])
    assert fresh.send_soon("test.plain", {}) is None  # no connection open yet
    layer = await opened(fresh)
    assert layer.send_soon("test.durable", {}) is None  # at least once: held, with an id
    assert layer.send_soon("test.plain", {}) is not None
