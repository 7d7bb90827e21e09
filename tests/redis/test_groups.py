"""group_send on Redis: one script per shard reads the members and pushes, with the
sender's capacities (globs included), in chunks for big groups, never losing lifetime."""

from __future__ import annotations

import asyncio
import fnmatch

import pytest

from gateways.layers.redis import groups as redis_groups
from gateways.layers.redis.capacities import lua_pattern
from tests.redis.conftest import commands, reset_stats

GLOBS = ["*", "http.*", "a?c", "ws.send.*!", "x[0-9].y", "x[!0-9].y", "[a-c]*", "lit-eral_1.2"]
NAMES = ["http.request", "abc", "axc", "ac", "ws.send.3f!", "ws.send.3f!x", "x1.y", "xa.y"]
NAMES += ["b.c", "lit-eral_1.2", "litXeral_1.2", "d", "http", "x.y", "lit-eral_1x2"]


def test_glob_translation_matches_fnmatch_inside_redis(redis_server):
    with redis_server.client() as client:
        for glob in GLOBS:
            for name in NAMES:
                found = client.eval(
                    "return string.find(ARGV[1], ARGV[2]) ~= nil", 0, name, lua_pattern(glob)
                )
                assert bool(found) == fnmatch.fnmatchcase(name, glob), (glob, name)


async def test_group_send_uses_the_senders_capacity_globs(redis_layer_url, open_layer):
    layer = open_layer(
        redis_layer_url, capacity=5, inbox_capacity=5, channel_capacity={"small.*": 1}
    )
    inbox = await layer.new_channel("small.inbox")
    members = ["small.a", "big.b", inbox]
    for channel in members:
        await layer.group_add("room", channel)
    await layer.group_send("room", {"n": 1})
    await layer.group_send("room", {"n": 2})  # small.* hold one: skipped there
    for channel in members[:1] + members[2:]:
        assert await layer.receive([channel], timeout=1) == (channel, {"n": 1})
        assert await layer.receive([channel], timeout=0.05) == (None, None)
    got = [await layer.receive(["big.b"], timeout=1) for _ in range(2)]
    assert got == [("big.b", {"n": 1}), ("big.b", {"n": 2})]


async def test_a_big_group_goes_out_in_chunks_each_member_once(
    redis_server, redis_layer_url, open_layer, monkeypatch
):
    monkeypatch.setattr(redis_groups, "GROUP_CHUNK", 7)
    layer = open_layer(redis_layer_url)
    members = [f"chunk.{i}" for i in range(50)]
    for channel in members:
        await layer.group_add("big", channel)
    reset_stats(redis_server)
    await layer.group_send("big", {"hi": True})
    assert commands(redis_server, "evalsha") == 8  # ceil(50 / 7) calls
    for channel in members:
        assert await layer.receive([channel], timeout=1) == (channel, {"hi": True})
        assert await layer.receive([channel], timeout=0.01) == (None, None)


async def test_1000_members_on_one_server_lose_nothing(redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url)
    sockets = [await layer.new_channel("ws.send") for _ in range(500)]
    members = sockets + [f"member.{i}" for i in range(500)]
    for channel in members:
        await layer.group_add("everyone", channel)
    await layer.group_send("everyone", {"text": "hi"})
    prefix = sockets[0].split("!")[0] + "!"
    got = [await layer.receive([prefix], timeout=1) for _ in sockets]
    assert sorted(c for c, _ in got) == sorted(sockets)
    for channel in members[500:]:
        assert await layer.receive([channel], timeout=1) == (channel, {"text": "hi"})


async def test_a_group_message_outlives_the_lists_earlier_ttl(redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url, expiry=0.6)
    await layer.group_add("room", "test.ttl")
    await layer.send("test.ttl", {"n": 1})  # the list would lapse 0.6 s from now
    await asyncio.sleep(0.4)  # lifetimes are what is under test
    await layer.group_send("room", {"n": 2})
    await asyncio.sleep(0.4)  # past the first message's life, within the second's
    assert await layer.receive(["test.ttl"], timeout=1) == ("test.ttl", {"n": 2})


@pytest.mark.parametrize("members", [1, 3])
async def test_group_send_to_a_group_with_no_member_on_some_shards(
    redis_sharded_layer_url, open_layer, members
):
    layer = open_layer(redis_sharded_layer_url)
    for i in range(members):
        await layer.group_add("few", f"few.{i}")
    await layer.group_send("few", {"ok": 1})
    for i in range(members):
        assert await layer.receive([f"few.{i}"], timeout=1) == (f"few.{i}", {"ok": 1})


@pytest.mark.parametrize(
    ("members", "chunk"), [(10, redis_groups.GROUP_CHUNK), (30, 7)], ids=["one call", "big group"]
)
async def test_repeated_group_sends_leave_list_ttls_alone(
    redis_server, redis_layer_url, open_layer, monkeypatch, members, chunk
):
    """The first send tops up every list and renews the marker (a big group's in several
    calls, the last renewing it); the next touches no list's TTL."""
    monkeypatch.setattr(redis_groups, "GROUP_CHUNK", chunk)
    layer = open_layer(redis_layer_url)
    for i in range(members):
        await layer.group_add("quiet", f"quiet.{i}")
    await layer.group_send("quiet", {"n": 1})
    reset_stats(redis_server)
    await layer.group_send("quiet", {"n": 2})
    assert commands(redis_server, "pexpire") == 0
    for i in range(members):
        assert (await layer.receive([f"quiet.{i}"], timeout=1))[1] == {"n": 1}
        assert (await layer.receive([f"quiet.{i}"], timeout=1))[1] == {"n": 2}


async def test_a_member_joining_after_the_marker_still_keeps_its_message(
    redis_layer_url, open_layer
):
    """The joiner's list was written long before: group_add must void the marker, or a
    later group_send would leave that list its old, too short, TTL."""
    layer = open_layer(redis_layer_url, expiry=1.0)
    await layer.send("late.b", {"n": 0})  # list lives 2 s from now
    await asyncio.sleep(0.9)  # lifetimes are what is under test
    await layer.group_add("joiners", "late.a")
    await layer.group_send("joiners", {"n": 1})  # marker: lists live 2 s past this
    await layer.group_add("joiners", "late.b")
    await asyncio.sleep(0.6)
    await layer.group_send("joiners", {"n": 2})  # lives until 1 s from now
    await asyncio.sleep(0.7)  # past the old list TTL, within the message's life
    assert await layer.receive(["late.b"], timeout=1) == ("late.b", {"n": 2})


async def test_a_member_added_between_a_big_sends_calls_voids_the_marker(
    redis_server, redis_layer_url, open_layer, monkeypatch
):
    """The new member's list was touched by no call: a later send must not skip it."""
    monkeypatch.setattr(redis_groups, "GROUP_CHUNK", 7)
    layer = open_layer(redis_layer_url, expiry=5)
    for i in range(20):
        await layer.group_add("crowd", f"crowd.{i}")
    shard = layer.topology.shards[0]
    calls = 0
    script = shard.script

    async def joining_after_the_first_call(name, *args):
        nonlocal calls
        calls += name == "group_send"
        if name == "group_send" and calls == 2:
            await layer.send("late.joiner", {"n": 0})  # its list now has a TTL of its own
            await layer.group_add("crowd", "late.joiner")
        return await script(name, *args)

    monkeypatch.setattr(shard, "script", joining_after_the_first_call)
    await layer.group_send("crowd", {"n": 1})
    monkeypatch.setattr(shard, "script", script)
    reset_stats(redis_server)
    await layer.group_send("crowd", {"n": 2})
    assert commands(redis_server, "pexpire") == 21  # no marker: every list topped up


async def test_plain_members_share_one_entry_and_every_receive_names_its_channel(
    redis_server, redis_layer_url, open_layer
):
    """A group_send pushes one entry, naming no channel, to every plain member's list
    (a process inbox's entries still name their socket): whichever way a receive takes
    it, by blocking pop, pop while flowing, several lists, a batch or the pop script of
    a durable channel, the message comes back under the member's own name."""
    layer = open_layer(redis_layer_url + "?durable=jobs.*")
    inbox = await layer.new_channel("ws.send")
    plain = ["p.one", "p.two", "p.three", "p.four", "p.five"]
    for channel in [*plain, "jobs.one", inbox]:
        await layer.group_add("room", channel)
    for n in range(2):
        await layer.group_send("room", {"n": n})
    with redis_server.client() as client:
        assert client.lindex(layer.keys.queue("p.one"), 0)[15:17] == b"\0\0"
        assert inbox.encode() in client.lindex(layer.keys.queue(inbox), 0)

    def named(found: tuple[str | None, object]) -> tuple[str | None, int]:
        channel, message = found
        return channel, message["n"] if isinstance(message, dict) else -1

    for n in range(2):  # a blocking pop, then a pop while messages flow
        assert named(await layer.receive(["p.one"], timeout=1)) == ("p.one", n)
    got = [named(await layer.receive(["p.two", "p.three"], timeout=1)) for _ in range(4)]
    assert sorted(got) == [("p.three", 0), ("p.three", 1), ("p.two", 0), ("p.two", 1)]
    batch = await layer.receive_many(["p.four"], 2, timeout=1)  # BLMPOP
    assert [named(found) for found in batch] == [("p.four", 0), ("p.four", 1)]
    durable = await layer.receive_many(["jobs.one", "p.five"], 4, timeout=1)  # the pop script
    assert sorted(named(found) for found in durable) == [
        ("jobs.one", 0), ("jobs.one", 1), ("p.five", 0), ("p.five", 1)
    ]  # fmt: skip
    assert named(await layer.receive([inbox], timeout=1)) == (inbox, 0)
