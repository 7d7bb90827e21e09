"""``send_soon``: a send begun at once on the command connection and settled by a
callback (the interface's hot path, one per HTTP request) keeps every outcome of
``send``: delivery in order, ChannelFull, a script the server lost, an outage."""

from __future__ import annotations

import msgpack
import pytest
from redis.exceptions import ResponseError

from gateways import metrics
from gateways.layers import ChannelFull, LayerUnavailable, MessageTooLarge
from gateways.layers.redis import shard as shard_module
from gateways.layers.redis.resp import Batch

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


async def test_a_script_the_server_lost_is_loaded_and_the_full_channel_still_refused(
    redis_server, redis_layer_url, open_layer
):
    layer = await opened(open_layer(redis_layer_url, capacity=1))
    await layer.send("test.soon-flushed", {"n": 1})
    with redis_server.client() as client:
        client.script_flush()  # as after a restart or failover: NOSCRIPT for the next call
    sent = layer.send_soon("test.soon-flushed", {"n": 2})
    assert sent is not None
    with pytest.raises(ChannelFull):
        await sent  # the push past capacity ran the take-back script, loaded again
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


# -- a plain send is RPUSH then PEXPIRE, not a script (scripts.TAKE_BACK) ----------------


def _commands(client) -> dict[str, int]:
    return {name: stats["calls"] for name, stats in client.info("commandstats").items()}


async def _outcomes(soon) -> list:
    """Each send's outcome in order: None, or "full" for ChannelFull."""
    outcomes = []
    for sent in soon:
        try:
            outcomes.append(await sent)
        except ChannelFull:
            outcomes.append("full")
    return outcomes


def _server_ms(client) -> int:
    seconds, micros = client.time()
    return seconds * 1000 + micros // 1000


async def test_a_plain_send_pushes_and_expires_stamped_on_the_servers_clock(
    redis_server, redis_layer_url, open_layer
):
    layer = await opened(open_layer(redis_layer_url, expiry=30))
    key = layer.keys.queue("test.stamped")
    with redis_server.client() as client:
        client.config_resetstat()
        before = _server_ms(client)
        await layer.send("test.stamped", {"n": 1})
        after = _server_ms(client)
        commands = _commands(client)
        (raw,) = client.lrange(key, 0, -1)
        ttl = client.pttl(key)
        client.persist(key)  # as if a connection died between the two commands
        await layer.send("test.stamped", {"n": 2})
        ttl_again = client.pttl(key)
    assert "cmdstat_evalsha" not in commands and "cmdstat_exec" not in commands
    assert commands["cmdstat_rpush"] == commands["cmdstat_pexpire"] == 1
    assert before + 30_000 - 1_000 <= int(raw[:15]) <= after + 30_000  # (learnt clock)
    assert 59_000 <= ttl <= 60_000  # twice the expiry, as the send script leaves it
    assert 59_000 <= ttl_again <= 60_000  # the next send gives it back


async def test_each_send_gets_its_own_push_reply_not_another_sends_expire(
    redis_server, redis_layer_url, open_layer
):
    """Sends to two lists in turn are pushes of their own, each followed by its
    PEXPIRE, whose reply (1) must not pass for the next push's list length."""
    layer = await opened(open_layer(redis_layer_url, capacity=1))
    sends = [("test.a", 0), ("test.b", 0), ("test.a", 1), ("test.b", 1)]
    soon = [layer.send_soon(channel, {"n": n}) for channel, n in sends]
    assert await _outcomes(soon) == [None, None, "full", "full"]


async def test_a_push_past_capacity_is_taken_back_and_the_list_keeps_its_order(
    redis_server, redis_layer_url, open_layer
):
    layer = await opened(open_layer(redis_layer_url, capacity=2))
    key = layer.keys.queue("test.taken-back")
    for n in range(2):
        await layer.send("test.taken-back", {"n": n})
    with pytest.raises(ChannelFull, match=r"test\.taken-back"):
        await layer.send("test.taken-back", {"n": 2})
    with redis_server.client() as client:
        assert client.llen(key) == 2
    got = [(await layer.receive(["test.taken-back"], timeout=1))[1]["n"] for _ in range(2)]
    assert got == [0, 1]


async def test_expired_entries_of_a_full_list_make_way_for_a_plain_send(
    redis_server, redis_layer_url, open_layer
):
    layer = await opened(open_layer(redis_layer_url, capacity=1))
    key = layer.keys.queue("test.stale-full")
    with redis_server.client() as client:  # an entry whose lifetime ended a second ago
        stale = b"%015d" % (_server_ms(client) - 1_000) + b"\0\0" + msgpack.packb({"n": 0})
        client.rpush(key, stale)
    await layer.send("test.stale-full", {"n": 1})
    assert await layer.receive(["test.stale-full"], timeout=1) == ("test.stale-full", {"n": 1})


async def test_take_back_leaves_an_entry_a_receiver_took_meanwhile_as_delivered(
    redis_server, redis_layer_url, open_layer
):
    layer = await opened(open_layer(redis_layer_url, capacity=1))
    key = layer.keys.queue("test.raced")
    shard = layer.topology.shard_of(key)
    with redis_server.client() as client:
        future = b"%015d" % (_server_ms(client) + 60_000)
        first, pushed = future + b"\0\0first", future + b"\0\0pushed"
        client.rpush(key, first, pushed)  # one past capacity: full, the push goes back
        assert await shard.script("take_back", [key], [1, pushed]) == 0
        assert client.lrange(key, 0, -1) == [first]
        client.rpush(key, pushed)
        client.lpop(key, 2)  # a receiver took both before the take-back ran
        assert await shard.script("take_back", [key], [1, pushed]) == 1


async def test_an_old_server_clock_sends_the_long_way_which_learns_it_again(
    redis_server, redis_layer_url, open_layer, monkeypatch
):
    layer = await opened(open_layer(redis_layer_url))
    shard = layer.topology.shard_of(layer.keys.queue("test.old-clock"))
    shard.clock_offset = 1e6  # what an old clock may have become
    monkeypatch.setattr(shard_module, "CLOCK_TRUSTED", -1.0)  # every clock too old
    assert layer.send_soon("test.old-clock", {"n": 1}) is None
    with redis_server.client() as client:
        client.config_resetstat()
        await layer.send("test.old-clock", {"n": 1})
        assert _commands(client)["cmdstat_evalsha"] == 1
    assert abs(shard.clock_offset) < 60  # learnt again (this machine is the server's)
    assert await layer.receive(["test.old-clock"], timeout=1) == ("test.old-clock", {"n": 1})


async def test_a_key_of_another_type_fails_the_send_with_the_servers_error(
    redis_server, redis_layer_url, open_layer
):
    layer = await opened(open_layer(redis_layer_url))
    with redis_server.client() as client:
        client.set(layer.keys.queue("test.wrong-type"), b"not a list")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await layer.send("test.wrong-type", {})
    await layer.send("test.after", {"n": 1})  # the connection carries on
    assert await layer.receive(["test.after"], timeout=1) == ("test.after", {"n": 1})


# -- the sends of one turn of the loop to one list are one push (routes.Pushes) -----------


async def test_sends_of_one_turn_to_one_list_are_one_push_and_keep_their_order(
    redis_server, redis_layer_url, open_layer
):
    layer = await opened(open_layer(redis_layer_url))
    with redis_server.client() as client:
        client.config_resetstat()
        soon = [layer.send_soon("test.joined", {"n": n}) for n in range(5)]
        assert [await sent for sent in soon] == [None] * 5
        commands = _commands(client)
    assert commands["cmdstat_rpush"] == commands["cmdstat_pexpire"] == 1
    got = [(await layer.receive(["test.joined"], timeout=1))[1]["n"] for _ in range(5)]
    assert got == [0, 1, 2, 3, 4]


async def test_a_send_to_another_list_between_them_begins_another_push(
    redis_server, redis_layer_url, open_layer, monkeypatch
):
    layer = await opened(open_layer(redis_layer_url))
    monkeypatch.setattr(Batch, "most", 2)  # and a push takes at most two
    sends = [("test.a", 0), ("test.a", 1), ("test.b", 0)]
    sends += [("test.a", n) for n in range(2, 5)]
    with redis_server.client() as client:
        client.config_resetstat()
        soon = [layer.send_soon(channel, {"n": n}) for channel, n in sends]
        for sent in soon:
            await sent
        assert _commands(client)["cmdstat_rpush"] == 4  # a0 a1 | b0 | a2 a3 | a4
    got = [(await layer.receive(["test.a"], timeout=1))[1]["n"] for _ in range(5)]
    assert got == [0, 1, 2, 3, 4]
    assert await layer.receive(["test.b"], timeout=1) == ("test.b", {"n": 0})


async def test_a_push_past_capacity_refuses_only_the_sends_past_it(
    redis_server, redis_layer_url, open_layer
):
    layer = await opened(open_layer(redis_layer_url, capacity=3))
    await layer.send("test.nearly-full", {"n": "before"})
    soon = [layer.send_soon("test.nearly-full", {"n": n}) for n in range(4)]
    assert await _outcomes(soon) == [None, None, "full", "full"]
    got = [(await layer.receive(["test.nearly-full"], timeout=1))[1]["n"] for _ in range(3)]
    assert got == ["before", 0, 1]
    assert await layer.receive(["test.nearly-full"], timeout=0.1) == (None, None)


async def test_every_send_of_a_push_gets_the_servers_error_or_the_outage(
    make_redis_server, open_layer
):
    server = make_redis_server()
    layer = await opened(open_layer(server.url))
    with server.client() as client:
        client.set(layer.keys.queue("test.wrong"), b"not a list")
    soon = [layer.send_soon("test.wrong", {"n": n}) for n in range(3)]
    for sent in soon:
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await sent
    server.kill()
    soon = [layer.send_soon("test.gone", {"n": n}) for n in range(3)]  # before the loop knows
    for sent in soon:
        with pytest.raises(LayerUnavailable, match=server.address):
            await sent
