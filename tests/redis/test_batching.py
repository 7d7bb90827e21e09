"""A worker's batches over mixed channels: plain and durable, on several shards or cluster
slots, up to its free slots per round trip, each channel in order, durable ones held."""

from __future__ import annotations

import asyncio
import itertools

import pytest

pytestmark = pytest.mark.timeout(60)

PLAIN = ["http.request", "websocket.receive", "irc-client.receive"]
DURABLE = "email.receive"
CHANNELS = [*PLAIN, DURABLE]


async def send_each(layer, count, channels=CHANNELS):
    for i in range(count):
        for channel in channels:
            await layer.send(channel, {"i": i})


async def take_all(layer, expected, limit, timeout=2.0, channels=CHANNELS):
    """Batches as a worker with ``limit`` free slots takes them, until ``expected``."""
    batches = []
    while sum(map(len, batches)) < expected:
        batch = await layer.receive_many(channels, limit, timeout=timeout)
        assert batch, f"only {sum(map(len, batches))} of {expected} came"
        batches.append(batch)
    return batches


def in_order_per_channel(batches, count, channels=CHANNELS):
    seen: dict[str, list[int]] = {}
    for channel, message in (m for batch in batches for m in batch):
        seen.setdefault(channel, []).append(message["i"])
    assert seen == {channel: list(range(count)) for channel in channels}


def over_several_shards(layer):
    """CHANNELS, unless the ring (placed by the servers' random ports) put them all on
    one shard: then a plain channel of another shard takes the last plain one's place."""

    def shard_of(channel):
        return layer.ring[layer.keys.queue(channel)]

    if len({shard_of(c) for c in CHANNELS}) > 1:
        return CHANNELS
    names = (f"plain.{n}" for n in itertools.count())
    other = next(name for name in names if shard_of(name) != shard_of(DURABLE))
    return [*PLAIN[:-1], other, DURABLE]


async def test_a_mixed_batch_over_several_shards(
    redis_shard_servers, redis_sharded_layer_url, open_layer
):
    layer = open_layer(redis_sharded_layer_url, visibility_timeout=1.0)
    channels = over_several_shards(layer)
    await send_each(layer, 5, channels)
    batches = await take_all(layer, 20, limit=4, channels=channels)
    assert [len(batch) for batch in batches] == [4] * 5  # every round trip full, none more
    in_order_per_channel(batches, 5, channels)
    durable = [m for batch in batches for c, m in batch if c == DURABLE]
    assert [m["__delivery__"]["attempt"] for m in durable] == [1] * 5
    assert all("__delivery__" not in m for b in batches for c, m in b if c != DURABLE)
    for message in durable:
        await layer.ack(DURABLE, message)
    assert await layer.receive_many(channels, 4, timeout=1.5) == []  # acked: never again


async def test_unacked_messages_of_a_batch_come_back_after_the_visibility_timeout(
    redis_sharded_layer_url, redis_shard_servers, open_layer
):
    layer = open_layer(redis_sharded_layer_url, visibility_timeout=1.0)
    await send_each(layer, 3)
    batch = await layer.receive_many(CHANNELS, 20, timeout=2)
    assert len(batch) == 12
    first = [m for c, m in batch if c == DURABLE]
    assert await layer.receive_many(CHANNELS, 20, timeout=0.2) == []  # held, invisible
    again = await take_all(layer, 3, limit=20, timeout=5)
    redelivered = [m for b in again for _, m in b]
    assert [(m["i"], m["__delivery__"]["attempt"]) for m in redelivered] == [
        (i, 2) for i in range(3)
    ]
    assert [m["__delivery__"]["id"] for m in redelivered] == [
        m["__delivery__"]["id"] for m in first
    ]
    for message in redelivered:
        await layer.ack(DURABLE, message)
    assert await layer.receive_many(CHANNELS, 20, timeout=1.5) == []


async def test_buffered_replies_come_first_and_within_the_limit(redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url)
    inbox = (await layer.new_channel("reply")).split("!")[0] + "!"
    names = [await layer.new_channel("reply") for _ in range(5)]
    for i, name in enumerate(names):
        await layer.send(name, {"i": i})
    assert await layer.receive([inbox], timeout=1) == (names[0], {"i": 0})  # buffers 4
    await layer.send("http.request", {"i": 9})
    assert await layer.receive_many([inbox, "http.request"], 3, timeout=1) == [
        (names[i], {"i": i}) for i in (1, 2, 3)
    ]
    rest = await layer.receive_many([inbox, "http.request"], 3, timeout=1)
    assert rest == [(names[4], {"i": 4})]
    assert await layer.receive_many([inbox, "http.request"], 3, timeout=1) == [
        ("http.request", {"i": 9})
    ]


async def test_a_mixed_batch_on_a_cluster(redis_cluster_group, redis_cluster_layer_url, open_layer):
    layer = open_layer(redis_cluster_layer_url, visibility_timeout=1.0)
    await send_each(layer, 4)
    batches = await take_all(layer, 16, limit=5)
    assert [len(batch) for batch in batches] == [5, 5, 5, 1]
    in_order_per_channel(batches, 4)
    for channel, message in (m for batch in batches for m in batch):
        await layer.ack(channel, message)
    waiting = asyncio.ensure_future(layer.receive_many(CHANNELS, 5, timeout=5))
    await layer.send(DURABLE, {"i": 4})  # a waiting batch sees a durable message come
    assert [(c, m["i"]) for c, m in await waiting] == [(DURABLE, 4)]


async def test_an_inbox_batch_is_one_list_pop_with_no_script(
    redis_server, redis_layer_url, open_layer
):
    """An interface takes its replies in batches: its inbox is a plain list, so a batch
    is one ``BLMPOP`` or ``LMPOP`` (Redis runs no Lua for it), each reply named."""
    layer = open_layer(redis_layer_url)
    names = [await layer.new_channel("reply") for _ in range(5)]
    inbox = names[0].split("!")[0] + "!"
    await layer.send(names[0], {"warm": True})  # the first send opens the connection
    assert await layer.receive_many([inbox], 10, timeout=1) == [(names[0], {"warm": True})]
    with redis_server.client() as client:
        client.config_resetstat()
        for i, name in enumerate(names[:3]):
            await layer.send(name, {"i": i})
        first = await layer.receive_many([inbox], 10, timeout=1)
        for i, name in enumerate(names[3:], start=3):
            await layer.send(name, {"i": i})
        then = await layer.receive_many([inbox], 10, timeout=1)
        commands = client.info("commandstats")
    assert first == [(names[i], {"i": i}) for i in range(3)]
    assert then == [(names[i], {"i": i}) for i in (3, 4)]
    assert "cmdstat_evalsha" not in commands and "cmdstat_eval" not in commands


@pytest.mark.parametrize("flowing", [False, True], ids=["blocking pop", "flowing pop"])
async def test_a_batch_skips_expired_entries_and_keeps_the_live_ones_in_order(
    redis_server, redis_layer_url, open_layer, flowing
):
    from gateways.layers.redis import entries

    layer = open_layer(redis_layer_url)
    channel = "test.batch-old"
    if flowing:  # a batch found messages: the next one looks without blocking first
        await layer.send(channel, {"n": "first"})
        assert await layer.receive_many([channel], 10, timeout=1) == [(channel, {"n": "first"})]
    with redis_server.client() as client:
        seconds, _ = client.time()
        for n in ("stale 0", "stale 1"):  # their lifetime ended ten seconds ago
            stale = entries.stamped((seconds - 10) * 1000, channel, layer.serialize({"n": n}))
            client.rpush(layer.keys.queue(channel), stale)
    for n in range(3):
        await layer.send(channel, {"n": n})
    batch = await layer.receive_many([channel], 10, timeout=1)
    assert batch == [(channel, {"n": n}) for n in range(3)]
