"""Flows: a connection's messages numbered, in order, at most a window unfinished, and
paused (never failed) while a shared channel is full; run by real workers in-process."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace
from typing import Any

import pytest

from gateways import route
from gateways.config import Settings
from gateways.layers import get_layer
from gateways.layers.ordering import SEQ_KEY
from gateways.plugin import Interface
from gateways.plugins import get_plugin_host
from gateways.routing import Router
from gateways.worker import Worker
from tests.core.test_interface import wait_until


class Conn(Interface):
    name = "conn"
    reply_prefix = "conn.reply"


class Transport:
    """Records the pause and resume calls a flow makes."""

    def __init__(self) -> None:
        self.paused = False
        self.pauses = 0

    def pause(self) -> None:
        assert not self.paused, "paused twice"
        self.paused, self.pauses = True, self.pauses + 1

    def resume(self) -> None:
        assert self.paused, "resumed while reading"
        self.paused = False


@pytest.fixture(params=["memory", "redis"])
async def layer(request):
    made = get_layer(request.getfixturevalue(f"{request.param}_layer_url"), capacity=20)
    yield made
    await made.flush()
    await made.close()


async def start_workers(layer, seen: dict[str, list[int]], count: int = 2):
    async def consumer(message: Any) -> None:
        await asyncio.sleep(random.random() * 0.005)  # random work: later ones would overtake
        seen.setdefault(message["reply_channel"], []).append(message["n"])

    workers = [
        Worker(layer, Router([route("flow.test", consumer)]), get_plugin_host(), name=f"w{i}")
        for i in range(count)
    ]
    return workers, [asyncio.create_task(w.run(grace=5)) for w in workers]


async def test_messages_of_a_flow_run_in_order_across_workers_and_pause_the_connection(layer):
    conn = Conn(SimpleNamespace(layer=layer, settings=Settings({})))
    await conn.start()
    seen: dict[str, list[int]] = {}
    workers, tasks = await start_workers(layer, seen)
    failures: list[Any] = []
    flows = []
    for _ in range(3):
        group = conn.reply_channel(lambda message: None)
        transport = Transport()
        flow = conn.flow(
            group,
            pause=transport.pause,
            resume=transport.resume,
            failed=lambda channel, exc: failures.append(exc),
            window=8,
        )
        flows.append((group, flow, transport))
    for n in range(150):  # 3 x 150 messages; the channel holds 20
        for group, flow, _ in flows:
            flow.send("flow.test", {"reply_channel": group, "n": n})
    await wait_until(lambda: sum(map(len, seen.values())) == 450, timeout=30)
    assert failures == []
    for group, flow, transport in flows:
        assert seen[group] == list(range(150))
        assert transport.pauses > 0 and not transport.paused
        assert flow.pending < flow.window  # what the interface knows: at most a window
    for worker in workers:
        worker.stop()
    await asyncio.gather(*tasks)
    await conn.drain(1)


async def test_the_first_message_of_a_flow_finds_a_full_channel_refused(layer):
    conn = Conn(SimpleNamespace(layer=layer, settings=Settings({})))
    await conn.start()
    for n in range(20):
        await layer.send("flow.full", {"n": n})
    failures: list[tuple[str, Exception]] = []
    group = conn.reply_channel(lambda message: None)
    flow = conn.flow(
        group, pause=lambda: None, resume=lambda: None, failed=lambda c, e: failures.append((c, e))
    )
    flow.send("flow.full", {"reply_channel": group, "n": 0})
    await wait_until(lambda: failures)
    assert failures[0][0] == "flow.full" and type(failures[0][1]).__name__ == "ChannelFull"
    await conn.drain(0)


async def test_a_parked_message_of_another_workers_channel_goes_back_to_its_queue():
    """connect on one worker's channel, receive on another's: still one after the other."""
    layer = get_layer("memory://")
    started = asyncio.Event()
    finish = asyncio.Event()
    ran: list[str] = []

    async def slow(message: Any) -> None:
        started.set()
        await finish.wait()
        ran.append(message.channel)

    async def quick(message: Any) -> None:
        ran.append(message.channel)

    routes = [route("order.first", slow), route("order.second", quick)]
    workers = [
        Worker(layer, Router(routes), get_plugin_host(), only_channels=[only], name=only)
        for only in ("order.first", "order.second")
    ]
    tasks = [asyncio.create_task(w.run(grace=5)) for w in workers]
    group = await layer.new_channel("order.conn")
    await layer.send("order.first", {"reply_channel": group, "__seq__": 0})
    await started.wait()
    await layer.send("order.second", {"reply_channel": group, "__seq__": 1})
    await wait_until(lambda: group in layer._orders._groups)  # the second one is parked
    finish.set()
    await wait_until(lambda: len(ran) == 2)
    assert ran == ["order.first", "order.second"]
    for worker in workers:
        worker.stop()
    await asyncio.gather(*tasks)
    await layer.close()


async def test_a_message_that_fails_leaves_no_gap_for_the_next_one(layer):
    """A failed message never reaches the layer: the next one takes its number, so the
    workers run it at once instead of waiting ``order_timeout`` (30 s) for the gap."""
    conn = Conn(SimpleNamespace(layer=layer, settings=Settings({})))
    await conn.start()
    seen: dict[str, list[int]] = {}
    workers, tasks = await start_workers(layer, seen)
    failures: list[Exception] = []
    group = conn.reply_channel(lambda message: None)
    flow = conn.flow(
        group, pause=lambda: None, resume=lambda: None, failed=lambda c, e: failures.append(e)
    )
    too_large = "x" * (layer.max_message_size + 1)
    flow.send("flow.test", {"reply_channel": group, "n": 0})
    flow.send("flow.test", {"reply_channel": group, "n": 1, "pad": too_large})
    flow.send("flow.test", {"reply_channel": group, "n": 2})  # dropped with the failed one
    await wait_until(lambda: failures)
    flow.send("flow.test", {"reply_channel": group, "n": 3})
    await wait_until(lambda: seen.get(group) == [0, 3], timeout=layer.order_timeout / 3)
    assert [type(e).__name__ for e in failures] == ["MessageTooLarge"]

    flow.send("flow.test", {"reply_channel": group, "n": 4, "pad": too_large})
    flow.finish()  # the last message fails: the flow is forgotten all the same
    await wait_until(lambda: group not in conn.flows)
    assert len(failures) == 2
    for worker in workers:
        worker.stop()
    await asyncio.gather(*tasks)
    await conn.drain(1)


async def test_a_worker_asks_the_layer_only_about_ends_it_did_not_record(layer, monkeypatch):
    """Whether a group's message may run is one round trip to the layer, unless this
    worker recorded its predecessor's end itself (one worker: never asked)."""
    asked: list[int] = []
    begin = layer.order_begin

    async def counted_begin(group, seq, channel, message):
        asked.append(seq)
        return await begin(group, seq, channel, message)

    monkeypatch.setattr(layer, "order_begin", counted_begin)
    seen: list[int] = []
    routes = Router([route("flow.test", lambda message: seen.append(message["n"]))])
    worker = Worker(layer, routes, get_plugin_host())
    task = asyncio.create_task(worker.run(grace=5))
    group = await layer.new_channel("conn.reply")

    async def run(n: int) -> None:  # each one ended before the next is sent
        await layer.send("flow.test", {"reply_channel": group, SEQ_KEY: n, "n": n})
        await wait_until(lambda: seen[-1:] == [n] and worker.record()["in_flight"] == 0)

    for n in range(3):
        await run(n)
    assert asked == []
    assert await begin(group, 3, "flow.test", {"n": 3})  # another worker runs 3
    assert await layer.order_end(group, 3) == (None, False)
    await run(4)
    await run(5)
    assert asked == [4]  # 3 ended elsewhere: asked once; 4 ended here
    worker.stop()
    await task
