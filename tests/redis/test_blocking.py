"""Blocking pops, pools and batching: what makes one receive loop per process scale."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.redis.conftest import commands, reset_stats, wait_blocked

pytestmark = pytest.mark.timeout(30)


async def test_a_long_blocking_receive_outlives_the_command_socket_timeout(
    redis_layer_url, open_layer
):
    layer = open_layer(redis_layer_url, socket_timeout=0.2)
    started = time.monotonic()
    assert await layer.receive(["test.idle"], timeout=1.0) == (None, None)
    assert time.monotonic() - started >= 0.95  # waited the whole second, no timeout error


async def test_many_concurrent_senders_share_a_small_pool(redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url, max_connections=4, capacity=1000)
    await asyncio.gather(*(layer.send("test.pool", {"i": i}) for i in range(500)))
    got = {(await layer.receive(["test.pool"], timeout=1))[1]["i"] for _ in range(500)}
    assert got == set(range(500))


async def test_one_receive_loop_serves_a_thousand_reply_channels_on_one_connection(
    redis_server, redis_layer_url, open_layer
):
    # all of a process's reply channels share one queue: its capacity covers them all
    interface = open_layer(
        redis_layer_url + "?client_name=iface", channel_capacity={"http.response.*": 2000}
    )
    worker = open_layer(redis_layer_url, channel_capacity={"http.response.*": 2000})
    replies = [await interface.new_channel("http.response") for _ in range(1000)]
    prefix = replies[0].split("!")[0] + "!"
    received: list[str] = []

    async def loop():
        while len(received) < len(replies):
            channel, _ = await interface.receive([prefix], timeout=5)
            received.append(channel)

    loop_task = asyncio.ensure_future(loop())
    await wait_blocked([redis_server])
    await asyncio.gather(*(worker.send(name, {"status": 200}) for name in replies))
    await asyncio.wait_for(loop_task, 10)
    assert sorted(received) == sorted(replies)
    with redis_server.client() as client:
        opened = [c for c in client.client_list() if c["name"] == "iface"]
    assert len(opened) <= 2  # one for scripts, one for the blocking pop


async def test_ready_replies_come_in_batches(redis_server, redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url, batch=50)
    names = [await layer.new_channel("reply") for _ in range(100)]
    for name in names:
        await layer.send(name, {})
    reset_stats(redis_server)
    prefix = names[0].split("!")[0] + "!"
    got = [(await layer.receive([prefix], timeout=1))[0] for _ in names]
    assert got == names  # in order
    assert commands(redis_server, "evalsha") == 2  # two scripts took all 100


async def test_ordinary_channels_are_not_batched(redis_server, redis_layer_url, open_layer):
    """A shared channel hands out one message per receive: another worker may be idle."""
    first, second = open_layer(redis_layer_url), open_layer(redis_layer_url)
    for i in range(2):
        await first.send("http.request", {"i": i})
    assert await first.receive(["http.request"], timeout=1) == ("http.request", {"i": 0})
    assert await second.receive(["http.request"], timeout=1) == ("http.request", {"i": 1})


async def test_a_cancelled_receive_loses_no_message(redis_server, redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url)
    for i in range(20):
        waiting = asyncio.ensure_future(layer.receive(["test.cancel"], timeout=10))
        await wait_blocked([redis_server])
        await layer.send("test.cancel", {"i": i})
        waiting.cancel()  # maybe before, maybe after the pop took the message
        try:
            got = await waiting
        except asyncio.CancelledError:
            got = await layer.receive(["test.cancel"], timeout=2)  # given back
        assert got == ("test.cancel", {"i": i})


async def test_receive_many_takes_what_is_ready_in_one_round_trip(
    redis_server, redis_layer_url, open_layer
):
    layer = open_layer(redis_layer_url)
    for i in range(5):
        await layer.send("test.many", {"i": i})
    reset_stats(redis_server)
    got = await layer.receive_many(["test.many", "test.other"], 3, timeout=1)
    assert got == [("test.many", {"i": i}) for i in range(3)]
    assert commands(redis_server, "blmpop") == 1
    assert await layer.receive_many(["test.many"], 10, timeout=1) == [
        ("test.many", {"i": i}) for i in (3, 4)
    ]
    assert await layer.receive_many(["test.many"], 10, timeout=0.1) == []


async def test_receive_many_takes_one_of_a_full_process_specific_name(redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url)
    reply = await layer.new_channel("reply")
    for i in range(3):
        await layer.send(reply, {"i": i})  # its siblings would be buffered: one at a time
    assert await layer.receive_many([reply], 10, timeout=1) == [(reply, {"i": 0})]


async def test_a_cancelled_receive_many_gives_everything_back_in_order(
    redis_server, redis_layer_url, open_layer
):
    layer = open_layer(redis_layer_url)
    for round_ in range(10):
        waiting = asyncio.ensure_future(layer.receive_many(["test.back"], 5, timeout=10))
        await wait_blocked([redis_server])
        await layer.send("test.back", {"i": 0})
        waiting.cancel()  # maybe before, maybe after the pop took the message
        try:
            got = await waiting
        except asyncio.CancelledError:
            got = await layer.receive_many(["test.back"], 5, timeout=2)
        assert got == [("test.back", {"i": 0})], round_


async def test_while_messages_flow_a_receive_takes_without_blocking(
    redis_server, redis_layer_url, open_layer
):
    """After a receive found a message, the next one looks with a plain pop on the
    shared connection (it travels with the sends), and blocks only when nothing is there."""
    layer = open_layer(redis_layer_url)
    for i in range(3):
        await layer.send("test.flow", {"i": i})
    assert await layer.receive(["test.flow"], timeout=1) == ("test.flow", {"i": 0})
    reset_stats(redis_server)
    assert await layer.receive(["test.flow"], timeout=1) == ("test.flow", {"i": 1})
    assert await layer.receive_many(["test.flow"], 5, timeout=1) == [("test.flow", {"i": 2})]
    assert (commands(redis_server, "lpop"), commands(redis_server, "blpop")) == (2, 0)
    assert await layer.receive(["test.flow"], timeout=0.2) == (None, None)
    assert commands(redis_server, "blpop") == 1  # nothing there: it waited


async def test_a_receive_cancelled_while_messages_flow_loses_no_message(
    redis_layer_url, open_layer
):
    layer = open_layer(redis_layer_url)
    for i in range(60):
        await layer.send("test.flow", {"i": i})
    got = [(await layer.receive(["test.flow"], timeout=1))[1]["i"]]  # messages flow now
    for turn in range(40):
        many = turn % 2 == 0
        waiting = asyncio.ensure_future(
            layer.receive_many(["test.flow"], 2, timeout=1)
            if many
            else layer.receive(["test.flow"], timeout=1)
        )
        for _ in range(turn % 5):  # cancel at another point of the round trip each time
            await asyncio.sleep(0)
        waiting.cancel()
        try:
            found = await waiting
        except asyncio.CancelledError:
            continue
        got += [m["i"] for _, m in found] if many else [found[1]["i"]]
    while (found := await layer.receive(["test.flow"], timeout=1))[0] is not None:
        got.append(found[1]["i"])
    assert sorted(got) == list(range(60))  # none lost, none twice
