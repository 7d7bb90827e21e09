"""Ordered and fair (design section 6), with real processes: one ``gateways serve``, a
Redis layer, ``gateways worker`` processes and ``websockets`` clients.

- The frames of one socket are handled one at a time and in order however many workers
  share the work, though each takes a different time (``ordering_app``: 0-20 ms).
- A worker killed mid-run loses at most the messages it held; nothing runs twice, nothing
  is overtaken, and every socket goes on to its last frame.
- A socket that sends far faster than it is handled is read more slowly (never closed
  for filling ``websocket.receive``), and another client's echoes stay about as fast as
  on an idle server.

Every socket sends its numbered frames back to back, then ``end``: the echo of ``end``
comes last, so reading up to it sees everything the socket will ever get.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import statistics
import time
from collections.abc import Callable

import pytest
from websockets.asyncio.client import ClientConnection

from gateways.testing import GatewaysProcess
from tests.websocket.conftest import PLUGINS, Served

pytestmark = pytest.mark.timeout(180)

APP = "ordering_app:routes"
END = "end"
#: Longest wait for one echo: a socket whose worker was killed waits for the layer to
#: release its group (order_timeout) before it goes on.
RECV_TIMEOUT = 30.0


async def start(
    gateways_process: Callable[..., GatewaysProcess], url: str, workers: int
) -> tuple[Served, list[GatewaysProcess]]:
    interface = gateways_process("serve", *PLUGINS, "--layer", url, "--http-port", "0")
    started = await asyncio.gather(
        *(
            asyncio.to_thread(gateways_process, "worker", APP, "--layer", url)
            for _ in range(workers)
        )
    )
    return Served(interface, *interface.address("http")), list(started)


class Echoes:
    """How many echoes came in all, a way to wait until enough did, and which worker
    processes sent them (``/work`` names its worker)."""

    def __init__(self) -> None:
        self.total = 0
        self.workers: set[str] = set()
        self.per_socket: list[int] = []  # how many workers handled each socket's frames
        self._waiters: list[tuple[int, asyncio.Event]] = []

    def count(self, worker: str) -> None:
        self.total += 1
        if worker:
            self.workers.add(worker)
        for target, event in self._waiters:
            if self.total >= target:
                event.set()

    async def reach(self, target: int, timeout: float = 60) -> None:
        event = asyncio.Event()
        self._waiters.append((target, event))
        if self.total >= target:
            event.set()
        await asyncio.wait_for(event.wait(), timeout)


async def talk(ws: ClientConnection, frames: int, echoes: Echoes) -> list[int]:
    """Send ``0 .. frames - 1`` as fast as the socket takes them, then ``end``; the
    numbers echoed before ``end``, in the order they came. Fails if the socket's frames
    were all handled by one worker while several run (nothing would then be shown)."""

    async def send_all() -> None:
        for n in range(frames):
            await ws.send(str(n))
        await ws.send(END)

    sender = asyncio.create_task(send_all())
    got: list[int] = []
    workers: set[str] = set()
    try:
        while True:
            text = await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
            assert isinstance(text, str)
            word, _, worker = text.partition(" ")
            if word == END:
                break
            got.append(int(word))
            workers.add(worker)
            echoes.count(worker)
        await sender
    finally:
        sender.cancel()
    assert ws.close_code is None
    echoes.per_socket.append(len(workers))
    return got


async def open_sockets(served: Served, path: str, count: int) -> list[ClientConnection]:
    return list(await asyncio.gather(*(served.connect(path) for _ in range(count))))


def inversions(got: list[int]) -> int:
    """Echoes that came after a higher number (an overtaking, or a second delivery)."""
    return sum(1 for before, after in itertools.pairwise(got) if after <= before)


async def test_fifty_sockets_on_four_workers_get_every_echo_in_order(
    gateways_process, redis_layer_url
):
    served, workers = await start(gateways_process, redis_layer_url, workers=4)
    frames = 200
    sockets = await open_sockets(served, "/work", 50)
    echoes = Echoes()
    started = time.monotonic()
    try:
        results = await asyncio.gather(*(talk(ws, frames, echoes) for ws in sockets))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    took = time.monotonic() - started
    for got in results:
        assert got == list(range(frames)), f"{inversions(got)} inversions, {len(got)} echoes"
    moved = sum(1 for n in echoes.per_socket if n > 1)
    print(
        f"\n50 sockets x {frames} frames on 4 workers: {took:.1f}s; "
        f"{moved} sockets had their frames run by more than one worker"
    )
    # The work was shared: several workers ran frames. Not necessarily all four: a busy
    # group stays with the worker running it (the others park its messages and that
    # worker takes them), so a worker whose pops found only busy groups' frames may run
    # none of them in a short run (seen once in CI, under load: 3 of 4).
    assert len(echoes.workers) >= 2
    assert echoes.workers <= {str(w.proc.pid) for w in workers}
    # One that falls idle goes to whoever takes its next frame.
    assert moved > 0
    assert "1013" not in served.process.output


async def test_a_worker_killed_mid_run_loses_little_and_breaks_no_order(
    gateways_process, redis_layer_url
):
    # The layer releases a stalled group after 2 s (default 30 s) so groups go on soon;
    # what else the killed worker held of that group is skipped at once after that.
    url = redis_layer_url + "?order_timeout=2"
    served, workers = await start(gateways_process, url, workers=4)
    frames, count = 200, 50
    sockets = await open_sockets(served, "/work", count)
    echoes = Echoes()
    talking = asyncio.gather(*(talk(ws, frames, echoes) for ws in sockets))
    try:
        await echoes.reach(frames * count // 5)  # a fifth of the way
        victim = workers[0]
        victim.proc.send_signal(signal.SIGKILL)
        killed_at, killed = echoes.total, time.monotonic()
        assert await asyncio.to_thread(victim.wait, 10) == -signal.SIGKILL
        results = await talking
        recovered = time.monotonic() - killed
    finally:
        talking.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets))
    assert killed_at < frames * count  # the kill was mid-run
    lost = frames * count - sum(map(len, results))
    print(
        f"\nkilled one of 4 workers after {killed_at} echoes: {lost} of {frames * count} "
        f"lost; the rest took {recovered:.1f}s more"
    )
    for got in results:
        assert inversions(got) == 0, got
        assert got[-1] == frames - 1  # every group went on to its last frame
    assert lost < frames * count * 0.05
    assert "1013" not in served.process.output


async def test_a_burst_is_absorbed_and_does_not_hold_up_another_client(
    gateways_process, redis_layer_url
):
    """One socket sends 10,000 frames at once to one worker (``websocket.receive`` holds
    100): it is read more slowly, never closed, and gets every echo in order; another
    client's pings are answered while the burst is still going on (not queued behind it).
    How much slower they are is printed, never asserted (a timing depends on the
    machine's load; bench/websocket_bench.py measures it).

    On 2 cores the server's three processes (interface, worker, Redis) use about 1.4 of
    them during the burst, spread over socket writes, Redis round trips and framing (no
    hot spot in a profile); the other client's round trip then waits for a free core
    now and then: its median grows from about 1.3 ms to 1.5-2 ms. Medians of 40 pings
    keep one unlucky wait from deciding the test."""
    served, _ = await start(gateways_process, redis_layer_url, workers=1)
    frames, pings = 10_000, 40

    async with served.connect("/echo") as pinger, served.connect("/echo") as burster:

        async def round_trips(count: int) -> list[float]:
            times = []
            for n in range(count):
                sent = time.perf_counter()
                await pinger.send(f"ping {n}")
                assert await asyncio.wait_for(pinger.recv(), 10) == f"ping {n}"
                times.append(time.perf_counter() - sent)
            return times

        await round_trips(10)  # warm up every process on the way
        idle = statistics.median(await round_trips(pings))
        echoes = Echoes()
        burst = asyncio.create_task(talk(burster, frames, echoes))
        await echoes.reach(1000)
        busy = statistics.median(await round_trips(pings))
        assert not burst.done(), "the burst ended before the pings: nothing was measured"
        got = await burst
    print(
        f"\nburst of {frames}: echo median idle {idle * 1000:.2f} ms, "
        f"during the burst {busy * 1000:.2f} ms ({busy / idle:.2f}x)"
    )
    assert got == list(range(frames))
    assert "1013" not in served.process.output
