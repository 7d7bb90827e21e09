"""Messages past their ``__deadline__`` are dropped unrun (issue 16, defect 6: a request
answered 503 must never run afterwards), and the deadline is read on the layer's clock,
so a worker whose machine clock is off does not misjudge it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateways import route
from gateways.layers import BaseChannelLayer, get_layer
from gateways.message import DEADLINE_KEY
from gateways.plugins import get_plugin_host
from gateways.routing import Router
from gateways.worker import Worker


async def _run_until(worker: Worker, done: asyncio.Event) -> None:
    """Run ``worker`` until the last message sent has run, then drain it."""
    task = asyncio.create_task(worker.run(grace=5))
    await asyncio.wait_for(done.wait(), 10)
    worker.stop()
    await task


@pytest.fixture(params=["memory", "redis", "redis_sharded"])
async def layer(request: pytest.FixtureRequest) -> AsyncIterator[BaseChannelLayer]:
    made = get_layer(request.getfixturevalue(f"{request.param}_layer_url"))
    yield made
    await made.flush()
    await made.close()


async def test_a_message_past_its_deadline_is_dropped_unrun_and_counted(
    layer: BaseChannelLayer, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[int] = []
    last = asyncio.Event()

    async def consumer(message: Any) -> None:
        ran.append(message["n"])
        if message["n"] == 100:
            last.set()

    now = layer.clock("jobs")
    for n in range(5):  # given up on 30 s ago
        await layer.send("jobs", {"n": n, DEADLINE_KEY: now - 30})
    await layer.send("jobs", {"n": 99, DEADLINE_KEY: now + 60})
    await layer.send("jobs", {"n": 100})  # no deadline: always runs
    worker = Worker(layer, Router([route("jobs", consumer)]), get_plugin_host())
    with caplog.at_level(logging.WARNING, logger="gateways.worker"):
        await _run_until(worker, last)
    assert sorted(ran) == [99, 100]
    assert worker.expired == 5 and worker.record()["expired"] == 5
    dropped = [r for r in caplog.records if "gave up on it" in r.getMessage()]
    assert len(dropped) == 1  # a flood of late messages writes one line, not one each


async def test_the_deadline_is_read_on_the_redis_servers_clock(
    redis_layer_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker machine whose clock runs 30 s fast still runs a message due in 10 s."""
    sender = get_layer(redis_layer_url)
    await sender.send("jobs", {"n": 1, DEADLINE_KEY: sender.clock("jobs") + 10})
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 30)
    receiver = get_layer(redis_layer_url)
    ran: list[int] = []
    last = asyncio.Event()

    async def consumer(message: Any) -> None:
        ran.append(message["n"])
        if message["n"] == 2:
            last.set()

    await sender.send("jobs", {"n": 2})
    worker = Worker(receiver, Router([route("jobs", consumer)]), get_plugin_host())
    try:
        await _run_until(worker, last)
        assert abs(receiver.clock("jobs") - real()) < 2  # the server's time, not ours
    finally:
        monkeypatch.undo()
        for layer in (sender, receiver):
            await layer.flush()
            await layer.close()
    assert ran == [1, 2] and worker.expired == 0
