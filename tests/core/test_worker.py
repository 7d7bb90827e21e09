"""The worker runtime in-process on the memory layer."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from gateways import route
from gateways.layers import get_layer
from gateways.plugins import get_plugin_host
from gateways.routing import Router
from gateways.testing import ApplicationCommunicator
from gateways.worker import Worker, select_channels


@pytest.fixture
async def layer():
    layer = get_layer("memory://")
    yield layer
    await layer.close()


async def run_worker(layer, routes, **options):
    worker = Worker(layer, Router(routes), get_plugin_host(), **options)
    task = asyncio.create_task(worker.run(grace=5))
    return worker, task


def test_channel_selection_only_then_exclude():
    channels = ["http.request", "http.disconnect", "websocket.connect", "thumbnail"]
    assert select_channels(channels, ["http.*", "websocket.*"], ["http.disconnect"]) == [
        "http.request",
        "websocket.connect",
    ]
    assert select_channels(channels, [], ["thumbnail"]) == [
        "http.disconnect",
        "http.request",
        "websocket.connect",
    ]


async def test_messages_sharing_a_reply_channel_run_in_order(layer):
    seen: list[int] = []

    async def consumer(message):
        await asyncio.sleep(0.01 * (5 - message["n"]))  # later messages would finish first
        seen.append(message["n"])
        await message.reply({"n": message["n"]})

    worker, task = await run_worker(layer, [route("ordered", consumer)], concurrency=10)
    for n in range(5):
        await layer.send("ordered", {"reply_channel": "back", "n": n})
    replies = [(await layer.receive(["back"], timeout=5))[1]["n"] for _ in range(5)]
    assert seen == replies == [0, 1, 2, 3, 4]
    worker.stop()
    await task


async def test_concurrency_runs_independent_messages_together(layer):
    started = asyncio.Event()
    running = 0
    peak = 0

    async def consumer(message):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            started.set()
        await started.wait()
        running -= 1

    worker, task = await run_worker(layer, [route("work", consumer)], concurrency=3)
    for n in range(3):
        await layer.send("work", {"n": n})
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    await task
    assert peak == 3


async def test_stop_finishes_consumers_in_flight(layer):
    entered, finished = asyncio.Event(), []

    async def slow(message):
        entered.set()
        await asyncio.sleep(0.2)  # the duration is what stop() must wait out
        finished.append(message["n"])

    worker, task = await run_worker(layer, [route("slow", slow)])
    await layer.send("slow", {"n": 1})
    await asyncio.wait_for(entered.wait(), 5)
    worker.stop()
    await task
    assert finished == [1]


async def test_stop_cancels_consumers_past_the_grace_time(layer, caplog):
    entered = asyncio.Event()

    async def stuck(message):
        entered.set()
        await asyncio.Event().wait()

    worker = Worker(layer, Router([route("stuck", stuck)]), get_plugin_host())
    task = asyncio.create_task(worker.run(grace=0.1))
    await layer.send("stuck", {})
    await asyncio.wait_for(entered.wait(), 5)
    worker.stop()
    with caplog.at_level(logging.WARNING, "gateways.worker"):
        await asyncio.wait_for(task, 5)
    assert "cancelled 1 consumer(s)" in caplog.text


async def test_sync_consumers_get_blocking_calls_in_a_thread():
    def sync(message):
        assert threading.current_thread() is not threading.main_thread()
        message.reply({"got": message["x"]})
        message.layer.send("elsewhere", {"also": True})

    async with ApplicationCommunicator([route("sync", sync)]) as comm:
        await comm.send_input("sync", {"reply_channel": comm.reply_channel, "x": 1})
        assert await comm.receive_output() == {"got": 1}
        assert await comm.wait_sent("elsewhere") == [{"also": True}]


async def test_no_channels_left_is_an_error(layer):
    worker = Worker(layer, Router([route("a", print)]), get_plugin_host(), only_channels=["b*"])
    with pytest.raises(ValueError, match="no channel left"):
        await worker.run()


async def test_an_ordered_family_channel_left_unrouted_does_not_stall_the_others(caplog):
    """An app routing only ``irc-client.receive``: the connect message numbered before the
    chat lines is taken and ended at once, not left unread to hold them back until the
    layer's order timeout (found with examples/helpdesk)."""
    layer = get_layer("memory://", order_timeout=300)
    ran = asyncio.Event()

    async def chat(message):
        ran.set()

    worker, task = await run_worker(layer, [route("irc-client.receive", chat)])
    assert worker.channels == ["irc-client.connect", "irc-client.disconnect", "irc-client.receive"]
    group = {"reply_channel": "irc-client.reply!net1", "network": "net1"}
    with caplog.at_level(logging.WARNING, logger="gateways.worker"):
        await layer.send("irc-client.connect", {**group, "__seq__": 0})
        await layer.send("irc-client.receive", {**group, "__seq__": 1, "body": "hi"})
        await asyncio.wait_for(ran.wait(), 10)
        worker.stop()
        await task
    assert not [r for r in caplog.records if "no route" in r.getMessage()]
    await layer.close()


def test_a_worker_remembers_the_latest_group_ends_only(layer, monkeypatch):
    """What it remembers saves round trips; it is bounded, and a group's last message
    (nothing follows) is forgotten at once."""
    monkeypatch.setattr("gateways.worker.ENDED_KEPT", 2)
    worker = Worker(layer, Router([]), get_plugin_host())
    for group, seq in [("a", 0), ("b", 0), ("a", 1), ("c", 0)]:
        worker._remember_end(group, seq, last=False)
    assert worker._ended == {"a": 1, "c": 0}  # b was the oldest
    worker._remember_end("a", 2, last=True)
    assert worker._ended == {"c": 0}
