"""Three redis-servers as one layer: each key on its hash shard, nothing lost across them."""

from __future__ import annotations

import asyncio

import pytest

from tests.redis.conftest import commands, on_every_shard, reset_stats, wait_blocked

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def shards(redis_shard_servers, redis_sharded_layer_url):
    return redis_shard_servers


def holders(servers, key):
    found = []
    for index, server in enumerate(servers):
        with server.client() as client:
            if client.exists(key):
                found.append(index)
    return found


async def test_process_specific_channels_live_whole_on_their_shard(
    shards, redis_sharded_layer_url, open_layer
):
    layer = open_layer(redis_sharded_layer_url)
    names = [await layer.new_channel("reply") for _ in range(20)]
    for name in names:
        await layer.send(name, {"to": name})
    key = "gateways:c:" + names[0].split("!")[0] + "!"
    assert holders(shards, key) == [layer.ring[key]]
    got = [await layer.receive([names[0].split("!")[0] + "!"], timeout=1) for _ in names]
    assert [channel for channel, _ in got] == names


async def test_channels_and_groups_spread_over_all_shards(
    shards, redis_sharded_layer_url, open_layer
):
    layer = open_layer(redis_sharded_layer_url)
    channels = [f"work.{i}" for i in range(30)]
    for channel in channels:
        await layer.send(channel, {"c": channel})
        await layer.group_add(f"room{channel}", channel)
    placed = {holders(shards, f"gateways:c:{c}")[0] for c in channels}
    assert placed == {0, 1, 2}
    for channel in channels:  # a membership lives with its member's list
        assert holders(shards, f"gateways:g:room{channel}") == holders(
            shards, f"gateways:c:{channel}"
        )


async def test_one_receive_waits_on_every_shard(shards, redis_sharded_layer_url, open_layer):
    layer = open_layer(redis_sharded_layer_url)
    channels = on_every_shard(layer, "job", 4)
    sender = open_layer(redis_sharded_layer_url)
    for channel in channels:
        waiting = asyncio.ensure_future(layer.receive(channels, timeout=5))
        await wait_blocked(shards)  # the receive waits on all three shards
        await sender.send(channel, {"c": channel})
        assert await waiting == (channel, {"c": channel})
    # the losing pops were unblocked and gave nothing back twice
    assert await layer.receive(channels, timeout=0.1) == (None, None)


async def test_a_race_loser_gives_back_what_it_took(shards, redis_sharded_layer_url, open_layer):
    layer = open_layer(redis_sharded_layer_url)
    channels = on_every_shard(layer, "job", 4)  # rounds of one per shard
    for _ in range(5):
        waiting = asyncio.ensure_future(layer.receive(channels, timeout=5))
        await wait_blocked(shards)
        # one message per shard at once: one wins, two must come back, none lost
        for channel in channels[:3] + channels[6:9]:
            await layer.send(channel, {"c": channel})
        got = [(await waiting)[0]]
        while (found := await layer.receive(channels, timeout=0.1))[0] is not None:
            got.append(found[0])
        assert sorted(got) == sorted(channels[:3] + channels[6:9])


async def test_group_send_to_1000_members_loses_none_in_one_script_per_shard(
    shards, redis_sharded_layer_url, open_layer
):
    layer = open_layer(redis_sharded_layer_url, capacity=2000)
    specific = [await layer.new_channel("ws.send") for _ in range(500)]
    members = specific + [f"member.{i}" for i in range(500)]
    for channel in members:
        await layer.group_add("everyone", channel)
    reset_stats(*shards)
    await layer.group_send("everyone", {"text": "hi"})
    # one script per shard reads its members and pushes (the stats count EVALSHA)
    assert [commands(s, "evalsha") + commands(s, "eval") for s in shards] == [1, 1, 1]
    prefix = specific[0].split("!")[0] + "!"
    got = [await layer.receive([prefix], timeout=1) for _ in specific]
    assert sorted(c for c, _ in got) == sorted(specific)
    for channel in members[500:]:
        assert await layer.receive([channel], timeout=1) == (channel, {"text": "hi"})
