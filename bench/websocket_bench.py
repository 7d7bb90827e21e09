"""WebSocket benchmark: gateways against Channels 4 + Daphne 4 + channels_redis, both on
the same Redis, in one run.

    .venv/bin/python bench/websocket_bench.py [--idle 10000] [--fanout 1000] [--rounds 30]

1. **Memory per idle connection**: ``--idle`` sockets held open on ONE interface process
   (gateways: the ``serve`` process, whose worker runs apart; Channels 4: the Daphne
   process, which also runs the consumers). Resident memory (VmRSS) after, minus before,
   divided by the number of sockets. The sockets are held by a separate client process.
2. **Broadcast latency**: ``--fanout`` sockets all in group ``bench``; one of them sends
   ``broadcast:<n>``, a consumer group_sends it, and every socket notes when it arrives.
   Latency = arrival - trigger send; p50/p99 over every socket of every round.

Both stacks run the same workload (bench/websocket_bench_app.py mirrors
bench/anchors/channels4_project/bench_c4/consumers.py): joining the group on connect,
group_send on ``broadcast:``. The file-descriptor soft limit is raised to the hard limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.anchors.launch import (  # noqa: E402
    flush_redis_db,
    free_port,
    start_channels4,
    start_redis,
)
from gateways.testing import GatewaysProcess  # noqa: E402

OPEN_AT_ONCE = 50  # channels_redis fails past its 100-connection Redis pool


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def busy_fraction(seconds: float = 0.5) -> float:
    """Share of the machine's CPU time spent busy over the next ``seconds``."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(total1 - total0, 1)


def settle(limit: float = 0.3, timeout: float = 180.0) -> None:
    """Wait until the stack has worked off the last stage (10,000 disconnects leave a
    server busy for a while: channels_redis then runs out of pooled connections and
    refuses new sockets with 500), so each stage measures only itself."""
    deadline = time.monotonic() + timeout
    while busy_fraction() > limit and time.monotonic() < deadline:
        pass


# -- the idle client (a subprocess: its own memory does not count) ------------------------


async def hold_sockets(url: str, count: int) -> None:
    """Open ``count`` sockets, print ``open N``, keep them until stdin closes."""
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    sockets: list[Any] = []

    async def one() -> None:
        async with gate:
            sockets.append(await connect(url, open_timeout=120, ping_interval=None))

    outcomes = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    errors = sorted({repr(e) for e in outcomes if isinstance(e, BaseException)})
    failed = sum(isinstance(e, BaseException) for e in outcomes)
    print(f"open {len(sockets)} failed {failed} {'; '.join(errors)[:300]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for ws in sockets:
        ws.transport.abort()


@contextlib.contextmanager
def idle_sockets(url: str, count: int) -> Iterator[tuple[float, int, str]]:
    """Hold ``count`` sockets in a client process; yields the seconds opening took, how
    many opened and why the others did not."""
    started = time.monotonic()
    client = subprocess.Popen(
        [sys.executable, __file__, "--hold", url, str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None and client.stdin is not None
    line = client.stdout.readline()
    if not line.startswith("open"):
        client.kill()
        raise RuntimeError(f"idle client failed (exit {client.wait()})")
    _, opened, _, failed, *why = line.split(" ", 4)
    try:
        yield time.monotonic() - started, int(opened), " ".join(why) if int(failed) else ""
    finally:
        client.stdin.close()
        client.wait(60)


def memory_per_socket(pid: int, url: str, count: int) -> dict[str, float]:
    with idle_sockets(url, 200):  # warm every code path first
        before = rss_kib(pid)
        with idle_sockets(url, count) as (took, opened, why):
            after = rss_kib(pid)
    if why:
        print(f"  {count - opened} of {count} sockets did not open: {why}", flush=True)
    return {
        "sockets": opened,
        "open_seconds": took,
        "rss_before_mib": before / 1024,
        "rss_after_mib": after / 1024,
        "kib_per_socket": (after - before) / max(opened, 1),
    }


# -- broadcast latency ------------------------------------------------------------------


async def broadcast_latency(url: str, fanout: int, rounds: int) -> dict[str, float]:
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(OPEN_AT_ONCE)

    async def one() -> Any:
        async with gate:
            return await connect(url, open_timeout=60, ping_interval=None)

    sockets = await asyncio.gather(*(one() for _ in range(fanout)))
    latencies: list[float] = []
    last: list[float] = []
    try:
        for n in range(rounds + 2):  # two warm-up rounds, not counted
            sent = time.perf_counter()
            await sockets[0].send(f"broadcast:{n}")
            arrived = await asyncio.gather(*(_arrival(ws, str(n)) for ws in sockets))
            if n >= 2:
                latencies.extend(t - sent for t in arrived)
                last.append(max(arrived) - sent)
    finally:
        for ws in sockets:
            ws.transport.abort()
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "last_socket_median_ms": statistics.median(last) * 1000,
    }


async def _arrival(ws: Any, expected: str) -> float:
    while True:
        text = await asyncio.wait_for(ws.recv(), 60)
        if text == expected:
            return time.perf_counter()


# -- the stacks ---------------------------------------------------------------------------


@contextlib.contextmanager
def gateways_stack(redis_url: str) -> Iterator[tuple[int, str]]:
    env = {"PYTHONPATH": str(ROOT / "bench")}
    app = "websocket_bench_app:routes"
    # 10,000 sockets open at once: websocket.connect must hold the burst of handshakes
    # (see docs/websocket.md, "Capacity"); the process inbox holds a broadcast by default.
    layer = ["--layer", f"{redis_url}?channel_capacity=websocket.connect:100000"]
    serve = GatewaysProcess(
        ["serve", "--plugin", "http", "--plugin", "websocket", *layer, "--http-port", "0"],
        env=env,
    )
    worker = GatewaysProcess(["worker", app, *layer], env=env)
    try:
        host, port = serve.address("http")
        yield serve.proc.pid, f"ws://{host}:{port}/bench"
    except BaseException:
        print("serve:", serve.output[-2000:], "\nworker:", worker.output[-4000:], file=sys.stderr)
        raise
    finally:
        worker.stop()
        serve.stop()


@contextlib.contextmanager
def channels4_stack(redis_url: str) -> Iterator[tuple[int, str]]:
    anchor = start_channels4(free_port(), redis_url)
    try:
        yield anchor.pids["daphne"], anchor.ws_url + "bench"
    finally:
        anchor.stop()


STACKS = {"gateways": gateways_stack, "channels4": channels4_stack}


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with start_redis(free_port()) as redis:
        for name in args.only or list(STACKS):
            flush_redis_db(redis.url)
            with STACKS[name](redis.url) as (pid, url):
                result = memory_per_socket(pid, url, args.idle)
                settle()
                result.update(asyncio.run(broadcast_latency(url, args.fanout, args.rounds)))
            results[name] = result
            print(name, {k: round(v, 2) for k, v in result.items()}, flush=True)
    return results


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    print(f"\n{args.idle} idle sockets; broadcast to {args.fanout} sockets x {args.rounds} rounds")
    print(
        f"{'stack':<10} {'opened':>7} {'KiB/socket':>10} {'open s':>7} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'last ms':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:<10} {r['sockets']:>7.0f} {r['kib_per_socket']:>10.1f} "
            f"{r['open_seconds']:>7.1f} "
            f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['last_socket_median_ms']:>8.1f}"
        )
    if {"gateways", "channels4"} <= results.keys():
        g, c = results["gateways"], results["channels4"]
        print("\nratios gateways / channels4 (lower is better):")
        for key in ("kib_per_socket", "p50_ms", "p99_ms", "last_socket_median_ms"):
            print(f"  {key:<22} {g[key] / c[key]:.2f}")
    target = results.get("gateways", {}).get("kib_per_socket")
    if target is not None:
        verdict = "meets" if target <= 30 else "MISSES"
        print(f"\ngateways {verdict} the target of 30 KB per idle socket ({target:.1f} KiB)")


def main() -> None:
    if sys.argv[1:2] == ["--hold"]:
        raise_fd_limit()
        asyncio.run(hold_sockets(sys.argv[2], int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--fanout", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--only", action="append", choices=list(STACKS))
    args = parser.parse_args()
    limit = raise_fd_limit()
    if limit < args.idle + 1000:
        sys.exit(f"the hard file-descriptor limit ({limit}) is too low for {args.idle} sockets")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    report(run(args), args)


if __name__ == "__main__":
    main()
