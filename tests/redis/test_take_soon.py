"""A receive while messages flow: one ``LPOP`` (``LMPOP`` over several channels) begun at
once on the command connection and settled as its reply is read (taker.py). It keeps
every outcome of the long way: order, the blocking wait when nothing is there, expired
entries skipped, a cancelled receive's message given back, the server's errors."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ResponseError

from gateways.layers.redis import entries

pytestmark = pytest.mark.timeout(30)


def _commands(client) -> dict[str, int]:
    return {name: stats["calls"] for name, stats in client.info("commandstats").items()}


async def flowing(layer, channels: list[str], queued: int = 0) -> None:
    """A receive found a message: the next ones look without blocking first. Then
    ``queued`` messages ``{"n": 0}``, ``{"n": 1}``... wait on the first channel."""
    await layer.send(channels[0], {"n": "first"})
    assert (await layer.receive(channels, timeout=1))[1] == {"n": "first"}
    for n in range(queued):
        await layer.send(channels[0], {"n": n})


async def test_a_flowing_receive_is_one_list_pop_and_keeps_order(
    redis_server, redis_layer_url, open_layer
):
    layer = open_layer(redis_layer_url)
    await flowing(layer, ["test.flow"], queued=3)
    with redis_server.client() as client:
        client.config_resetstat()
        got = [(await layer.receive(["test.flow"], timeout=1))[1]["n"] for _ in range(3)]
        commands = _commands(client)
    assert got == [0, 1, 2]
    assert commands["cmdstat_lpop"] == 3
    assert "cmdstat_blpop" not in commands and "cmdstat_evalsha" not in commands


async def test_a_flowing_receive_that_finds_nothing_waits_with_a_blocking_pop(
    redis_server, redis_layer_url, open_layer
):
    layer = open_layer(redis_layer_url)
    await flowing(layer, ["test.flow-dry"])
    with redis_server.client() as client:
        client.config_resetstat()
        assert await layer.receive(["test.flow-dry"], timeout=0.2) == (None, None)
        commands = _commands(client)
    assert commands["cmdstat_blpop"] == 1  # looked (LPOP), then waited; (at the end the
    # pop script looks once more, as a blocking pop cannot wait less than 10 ms)
    receiving = asyncio.ensure_future(layer.receive(["test.flow-dry"], timeout=5))
    await layer.send("test.flow-dry", {"n": 1})
    assert await receiving == ("test.flow-dry", {"n": 1})


async def test_a_zero_timeout_receive_looks_once(redis_server, redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url)
    await flowing(layer, ["test.flow-poll"])
    with redis_server.client() as client:
        client.config_resetstat()
        assert await layer.receive(["test.flow-poll"], timeout=0) == (None, None)
        assert _commands(client) == {"cmdstat_config|resetstat": 1, "cmdstat_lpop": 1}


async def test_an_expired_entry_is_skipped_and_the_next_one_delivered(
    redis_server, redis_layer_url, open_layer
):
    layer = open_layer(redis_layer_url)
    await flowing(layer, ["test.flow-old"])
    key = layer.keys.queue("test.flow-old")
    with redis_server.client() as client:
        seconds, _ = client.time()
        stale = entries.stamped((seconds - 10) * 1000, "test.flow-old", layer.serialize({"n": 0}))
        client.rpush(key, stale)  # its lifetime ended ten seconds ago
    await layer.send("test.flow-old", {"n": 1})
    assert await layer.receive(["test.flow-old"], timeout=1) == ("test.flow-old", {"n": 1})
    assert await layer.receive(["test.flow-old"], timeout=0.1) == (None, None)


async def test_a_cancelled_receive_gives_its_message_back_to_the_head_of_the_list(
    redis_server, redis_layer_url, open_layer
):
    layer = open_layer(redis_layer_url)
    await flowing(layer, ["test.flow-cancel"], queued=2)
    receiving = asyncio.ensure_future(layer.receive(["test.flow-cancel"]))
    await asyncio.sleep(0)  # its pop is begun, not written yet
    receiving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await receiving
    # Two round trips on the same connection: the pop's reply came back (and the
    # requeue it set off was sent) before the first one's, ran before the second's.
    for _ in range(2):
        await layer.send("test.flow-pump", {})
    with redis_server.client() as client:
        queued = client.lrange(layer.keys.queue("test.flow-cancel"), 0, -1)
    assert [layer.deserialize(entries.parse(raw, "").data)["n"] for raw in queued] == [0, 1]


async def test_several_channels_are_one_lmpop_that_names_each_messages_channel(
    redis_server, redis_layer_url, open_layer
):
    layer = open_layer(redis_layer_url)
    channels = ["test.flow-a", "test.flow-b"]
    await flowing(layer, channels)
    await layer.send("test.flow-a", {"n": "a"})
    await layer.send("test.flow-b", {"n": "b"})
    with redis_server.client() as client:
        client.config_resetstat()
        got = [await layer.receive(channels, timeout=1) for _ in range(2)]
        commands = _commands(client)
    assert sorted(got, key=str) == [("test.flow-a", {"n": "a"}), ("test.flow-b", {"n": "b"})]
    assert commands["cmdstat_lmpop"] == 2


async def test_the_servers_error_reaches_the_receiver_and_the_connection_carries_on(
    redis_server, redis_layer_url, open_layer
):
    layer = open_layer(redis_layer_url)
    await flowing(layer, ["test.flow-wrong"])
    with redis_server.client() as client:
        client.set(layer.keys.queue("test.flow-wrong"), b"not a list")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await layer.receive(["test.flow-wrong"], timeout=1)
    await layer.send("test.flow-after", {"n": 1})
    assert await layer.receive(["test.flow-after"], timeout=1) == ("test.flow-after", {"n": 1})
