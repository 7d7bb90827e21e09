"""Redis going away and coming back: calls fail fast with LayerUnavailable, the same
layer object and running workers recover by themselves, and nothing is left behind."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import pytest

from gateways.layers import LayerUnavailable, get_layer, receiving
from gateways.reactor import loop_factory
from tests.redis.conftest import wait_blocked

pytestmark = pytest.mark.timeout(30)


async def test_calls_fail_fast_during_an_outage_and_recover_after(make_redis_server, open_layer):
    server = make_redis_server()
    layer = open_layer(server.url)
    await layer.send("test.before", {"n": 1})
    waiting = asyncio.ensure_future(layer.receive(["test.idle"], timeout=20))
    await wait_blocked([server])
    server.kill()
    started = time.monotonic()
    with pytest.raises(LayerUnavailable, match=server.address):
        await waiting  # the blocked pop notices at once
    for call in (
        layer.send("test.during", {}),
        layer.receive(["test.during"], timeout=5),
        layer.group_send("room", {}),
    ):
        with pytest.raises(LayerUnavailable):
            await call
    assert time.monotonic() - started < 2

    server.start(keep_port=True)  # an empty server on the same port
    await layer.send("test.after", {"n": 2})
    assert await layer.receive(["test.after"], timeout=1) == ("test.after", {"n": 2})
    await layer.group_add("room", "test.after")
    await layer.group_send("room", {"n": 3})
    assert await layer.receive(["test.after"], timeout=1) == ("test.after", {"n": 3})


async def test_a_worker_rides_out_a_restart(make_redis_server, open_layer, gateways_process):
    server = make_redis_server()
    layer = open_layer(server.url)
    worker = gateways_process("worker", "redis_app:routes", "--layer", server.url)
    server.kill()
    worker.wait_for("layer unreachable")
    server.start(keep_port=True)
    mark = len(worker.lines)
    reply = await layer.new_channel("test.report")
    deadline = time.monotonic() + 15
    while True:  # the worker backs off up to 5 s between attempts
        await layer.send("jobs.a", {"report_to": reply, "n": 1})
        channel, got = await layer.receive([reply], timeout=1)
        if channel is not None or time.monotonic() > deadline:
            break
    assert got["pid"] == worker.proc.pid
    assert worker.proc.poll() is None
    assert "Traceback" not in "\n".join(worker.lines[mark:])


async def test_no_key_is_left_after_load_and_expiry(make_redis_server, open_layer):
    server = make_redis_server()
    start = server.key_count()
    short = {"expiry": 0.5, "group_expiry": 0.5, "durable_expiry": 0.5, "capacity": 1000}
    layer = open_layer(server.url, **short)
    replies = [await layer.new_channel("http.response") for _ in range(50)]
    for i in range(200):
        await layer.send(f"load.{i % 20}", {"i": i})
        await layer.send(replies[i % 50], {"i": i})
        await layer.group_add(f"group.{i % 10}", replies[i % 50])
        await layer.send("email.receive", {"i": i})
    for i in range(10):
        await layer.group_send(f"group.{i}", {"i": i})
    for _ in range(50):  # some taken, some acked, some left in flight or queued
        await layer.receive([f"load.{i}" for i in range(20)], timeout=1)
        channel, message = await layer.receive(["email.receive"], timeout=1)
        await layer.ack(channel, message)
    for _ in range(20):
        await layer.receive(["email.receive"], timeout=1)  # in flight, never acked
    assert server.key_count() > start + 30
    deadline = time.monotonic() + 10
    while server.key_count() != start:  # Redis expires keys by itself, a little after
        assert time.monotonic() < deadline, f"{server.key_count() - start} keys leaked"
        await asyncio.sleep(0.1)


def busy_for(seconds: float) -> None:
    """Work that holds the event loop (no sleep: the loop is busy, as under a burst)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_burst_that_holds_up_the_write_does_not_time_out_a_healthy_server(redis_layer_url, loop):
    """Commands of one loop turn go out together at the start of the next. A turn that
    runs longer than the socket timeout (10,000 WebSocket closes at once, each sending
    its notice) must not count that wait against them: the server is fine."""

    async def held_up() -> None:
        layer = get_layer(redis_layer_url, socket_timeout=0.2)
        try:
            await layer.send("test.busy", {"n": 1})  # the connection is open
            sending = layer.send_soon("test.busy", {"n": 2})  # written after this turn
            assert sending is not None
            busy_for(0.5)  # the rest of the turn: other work, past the 0.2 s timeout
            await sending
            assert await layer.receive(["test.busy"], timeout=1) == ("test.busy", {"n": 1})
        finally:
            await layer.close()

    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        runner.run(held_up())


@pytest.fixture
def long_pauses(monkeypatch):
    """Pauses and looks far past a test's timeout: only what a test is about ends one."""
    for pause in ("FIRST_BACKOFF_SECONDS", "MAX_BACKOFF_SECONDS", "PROBE_SECONDS"):
        monkeypatch.setattr(receiving, pause, 600.0)
    return monkeypatch


@contextlib.asynccontextmanager
async def outage_behind(server, layer, channel: str, caplog) -> AsyncIterator[asyncio.Queue]:
    """A receive loop on ``channel`` whose messages arrive on the queue it yields, once
    ``server`` was killed, the loop paused and ``server`` started again."""
    got: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()

    async def read() -> None:
        async for pair in receiving.receive_forever(layer, [channel], name="t", timeout=20):
            await got.put(pair)

    reader = asyncio.ensure_future(read())
    try:
        await wait_blocked([server])
        server.kill()
        deadline = time.monotonic() + 10
        while "next report in 600.0s" not in caplog.text:
            assert time.monotonic() < deadline, "the receive loop never paused"
            await asyncio.sleep(0.01)  # polling the log for the loop's pause
        server.start(keep_port=True)
        yield got
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def test_a_receive_loop_backing_off_resumes_as_soon_as_the_layer_reconnects(
    make_redis_server, open_layer, long_pauses, caplog
):
    """The pause after a failed receive grows to seconds; a send that reconnects ends
    it, so a failover costs an interface its own length, not a back-off more."""
    server = make_redis_server()
    layer = open_layer(server.url)
    async with outage_behind(server, layer, "test.loop", caplog) as got:
        await layer.send("test.loop", {"n": 1})  # opens a connection: the server is back
        assert await asyncio.wait_for(got.get(), 10) == ("test.loop", {"n": 1})


async def test_a_paused_receive_loop_with_no_traffic_of_its_own_looks_often(
    make_redis_server, open_layer, long_pauses, caplog
):
    """A worker sends nothing while its loop pauses: the loop itself looks every
    PROBE_SECONDS whether the layer is back, however long its report interval."""
    long_pauses.setattr(receiving, "PROBE_SECONDS", 0.05)
    caplog.set_level(logging.INFO, logger="gateways.layers")
    server = make_redis_server()
    worker, sender = open_layer(server.url), open_layer(server.url)
    async with outage_behind(server, worker, "test.jobs", caplog) as got:
        await sender.send("test.jobs", {"n": 1})  # another process's send
        assert await asyncio.wait_for(got.get(), 10) == ("test.jobs", {"n": 1})
        assert caplog.text.count("layer reachable again") == 1
