"""WebSocket benchmark: gateways against Channels 4 + Daphne 4 + channels_redis (both on
the same Redis) and a bare ``websockets`` server (bench/ws_bare.py), in one run.

    .venv/bin/python bench/websocket_bench.py [--idle 10000] [--fanout 1000] [--rounds 30]
        [--only gateways|channels4|bare ...] [--quick] [--json FILE]

1. **Memory per idle connection**: ``--idle`` sockets held open on ONE interface process
   (gateways: the ``serve`` process, whose worker runs apart; Channels 4: the Daphne
   process, which also runs the consumers). Resident memory (VmRSS) after, minus before,
   divided by the number of sockets. The sockets are held by a separate client process.
2. **Broadcast latency**: ``--fanout`` sockets all in group ``bench``; one of them sends
   ``broadcast:<n>``, a consumer group_sends it, and every socket notes when it arrives.
   Latency = arrival - trigger send; p50/p99 over every socket of every round. These
   sockets are bench/wsclient.py's lean client (one asyncio protocol each, in this
   process), the same for every stack: the ``websockets`` client costs more per frame
   than the servers under test, and so measured itself (the bare server's p99 was
   about 200 ms with it).

Both stacks run the same workload (bench/websocket_bench_app.py mirrors
bench/anchors/channels4_project/bench_c4/consumers.py): joining the group on connect,
group_send on ``broadcast:``. The bare server sends to every socket itself: it is the
floor, what the client process can receive, and the ratios against it say how much the
layer and the framework add. Beside the latencies, the CPU time the server processes
spent per broadcast (``/proc/PID/stat``) is given: a figure a busy machine disturbs less.
The file-descriptor soft limit is raised to the hard limit.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import wsclient  # noqa: E402
from bench.anchors.launch import (  # noqa: E402
    flush_redis_db,
    free_port,
    print_errors,
    start_channels4,
    start_redis,
)
from bench.report_json import add_report_arguments, ratio_row, result_row, write_json  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402

OPEN_AT_ONCE = 50  # channels_redis fails past its 100-connection Redis pool
#: What a socket sends to have ``<n>`` broadcast (websocket_bench_app.py, the anchors).
PREFIX = "broadcast:"
WARM_UP = 2  # broadcast rounds before the measured ones
OPEN_TRIES = 3  # rounds of handshakes for the broadcast stage's sockets
ROUND_TIMEOUT = 60.0
#: The issue's targets (13, item 3): broadcast p99 and memory per idle socket.
TARGET_P99_MS = 100.0
TARGET_KIB_PER_SOCKET = 13.0
#: Latency samples kept per stack in the JSON (bench-json.md: at most 20,000).
MAX_SAMPLES = 20_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


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


@dataclass
class Broadcasts:
    """What the rounds of broadcast measured: every socket's latency (seconds), the
    slowest socket of each round, and the server processes' CPU seconds per round."""

    latencies: list[float]
    last: list[float]
    cpu: dict[str, float]
    refused: int = 0  # handshakes refused before the sockets opened (tried again)

    def summary(self) -> dict[str, float]:
        cuts = statistics.quantiles(self.latencies, n=100)
        summary = {
            "p50_ms": cuts[49] * 1000,
            "p99_ms": cuts[98] * 1000,
            "last_socket_median_ms": statistics.median(self.last) * 1000,
        }
        for name, seconds in self.cpu.items():
            summary[f"cpu_ms_per_broadcast_{name}"] = seconds * 1000
        summary["cpu_ms_per_broadcast"] = sum(self.cpu.values()) * 1000
        summary["handshakes_refused"] = self.refused
        return summary


async def broadcast_latency(url: str, fanout: int, rounds: int, pids: dict[str, int]) -> Broadcasts:
    """``fanout`` lean client sockets (bench/wsclient.py, in this process): the
    ``websockets`` client would cost more per frame than the servers under test."""
    where = urlsplit(url)
    host, port = where.hostname or "127.0.0.1", where.port or 80
    sockets, refused = await open_fanout(host, port, where.path, fanout)
    latencies: list[float] = []
    last: list[float] = []
    try:
        rounds_of = wsclient.Fanout(sockets)
        for n in range(WARM_UP):  # not counted
            await rounds_of.round(PREFIX, n, ROUND_TIMEOUT)
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        for n in range(WARM_UP, WARM_UP + rounds):
            arrived = await rounds_of.round(PREFIX, n, ROUND_TIMEOUT)
            latencies.extend(arrived)
            last.append(max(arrived))
        cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / rounds for name, pid in pids.items()}
    finally:
        wsclient.close_all(sockets)
    return Broadcasts(latencies, last, cpu, refused)


async def open_fanout(host: str, port: int, path: str, fanout: int) -> tuple[list[Any], int]:
    """``fanout`` open sockets, and how many handshakes were refused on the way: a stack
    still working off the last stage (Channels 4 answers 403 while it handles 10,000
    disconnects) gets them again once the machine settles, up to OPEN_TRIES times."""
    sockets: list[Any] = []
    refused = 0
    for _ in range(OPEN_TRIES):
        opened, errors = await wsclient.open_sockets(host, port, path, fanout - len(sockets))
        sockets += opened
        if not errors:
            return sockets, refused
        refused += len(errors)
        print(f"  {len(errors)} handshakes refused ({errors[0]}): trying again", flush=True)
        await asyncio.to_thread(settle)
    wsclient.close_all(sockets)
    raise ConnectionError(f"{fanout - len(sockets)} of {fanout} sockets did not open: {errors[0]}")


# -- the stacks ---------------------------------------------------------------------------


@dataclass
class Served:
    """A running stack: the process holding the sockets (whose memory is measured), the
    URL to open sockets on, and every server process whose CPU time a broadcast costs."""

    pid: int
    url: str
    pids: dict[str, int]


@contextlib.contextmanager
def gateways_stack(redis_url: str) -> Iterator[Served]:
    env = {"PYTHONPATH": str(ROOT / "bench")}
    app = "websocket_bench_app:routes"
    # 10,000 sockets open at once: websocket.connect must hold the burst of handshakes
    # (see docs/websocket.md, "Capacity"), and websocket.disconnect the burst of closes
    # after the idle stage, so each close runs its consumer (group_discard) as Channels 4
    # leaves its group in-process. A close dropped instead leaves its socket in group
    # "bench" until the first broadcast reaches it (the interface then takes it out):
    # that first broadcast would go to 10,000 dead members as well as to the 1,000 live
    # ones, past the process inbox's 10,000 (which holds a broadcast by default).
    query = "channel_capacity=websocket.connect:100000&channel_capacity=websocket.disconnect:100000"
    layer = ["--layer", f"{redis_url}?{query}"]
    serve = GatewaysProcess(
        ["serve", "--plugin", "http", "--plugin", "websocket", *layer, "--http-port", "0"],
        env=env,
    )
    worker = GatewaysProcess(["worker", app, *layer], env=env)
    try:
        host, port = serve.address("http")
        pids = {"serve": serve.proc.pid, "worker": worker.proc.pid}
        yield Served(serve.proc.pid, f"ws://{host}:{port}/bench", pids)
    except BaseException:
        print("serve:", serve.output[-2000:], "\nworker:", worker.output[-4000:], file=sys.stderr)
        raise
    finally:
        worker.stop()
        serve.stop()
        print_errors(serve)  # refused handshakes say why here
        print_errors(worker)


@contextlib.contextmanager
def channels4_stack(redis_url: str) -> Iterator[Served]:
    anchor = start_channels4(free_port(), redis_url)
    try:
        pid = anchor.pids["daphne"]  # Daphne runs the consumers too
        yield Served(pid, anchor.ws_url + "bench", {"daphne": pid})
    finally:
        anchor.stop()


@contextlib.contextmanager
def bare_stack(redis_url: str) -> Iterator[Served]:
    """bench/ws_bare.py: no layer (``redis_url`` is not used)."""
    program = [sys.executable, str(ROOT / "bench" / "ws_bare.py")]
    server = GatewaysProcess([], program=program, ready="listening on ws://")
    try:
        host, port = server.address("ws")
        yield Served(server.proc.pid, f"ws://{host}:{port}/bench", {"server": server.proc.pid})
    finally:
        server.stop()


STACKS = {"gateways": gateways_stack, "channels4": channels4_stack, "bare": bare_stack}
LABELS = {"gateways": "gateways", "channels4": "Channels 4", "bare": "bare websockets"}


def measure(name: str, redis_url: str, args: argparse.Namespace) -> tuple[dict[str, float], Any]:
    """One stack: idle memory, then the broadcast rounds."""
    with STACKS[name](redis_url) as served:
        result = memory_per_socket(served.pid, served.url, args.idle)
        settle(timeout=args.settle)
        broadcasts = asyncio.run(
            broadcast_latency(served.url, args.fanout, args.rounds, served.pids)
        )
    return result, broadcasts


def run(args: argparse.Namespace) -> tuple[dict[str, dict[str, float]], dict[str, list[float]]]:
    results: dict[str, dict[str, float]] = {}
    samples: dict[str, list[float]] = {}
    with start_redis(free_port()) as redis:
        for name in args.only or list(STACKS):
            flush_redis_db(redis.url)
            try:
                result, broadcasts = measure(name, redis.url, args)
            except Exception as exc:  # a stack that breaks under the load: said, others go on
                args.failures[name] = f"{type(exc).__name__}: {exc}"
                print(f"{name} failed: {args.failures[name]}", flush=True)
                continue
            result.update(broadcasts.summary())
            results[name] = result
            samples[name] = [t * 1000 for t in broadcasts.latencies]
            print(name, {k: round(v, 2) for k, v in result.items()}, flush=True)
    return results, samples


# -- report ---------------------------------------------------------------------------------

COMPARED = ("kib_per_socket", "p50_ms", "p99_ms", "last_socket_median_ms", "cpu_ms_per_broadcast")


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    print(f"\n{args.idle} idle sockets; broadcast to {args.fanout} sockets x {args.rounds} rounds")
    print(
        f"{'stack':<10} {'opened':>7} {'KiB/socket':>10} {'open s':>7} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'last ms':>8} {'CPU ms':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:<10} {r['sockets']:>7.0f} {r['kib_per_socket']:>10.1f} "
            f"{r['open_seconds']:>7.1f} "
            f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['last_socket_median_ms']:>8.1f} "
            f"{r['cpu_ms_per_broadcast']:>8.1f}"
        )
    print("(CPU ms: server processes' CPU time per broadcast; gateways: serve + worker)")
    for other in ("channels4", "bare"):
        if {"gateways", other} <= results.keys():
            g, o = results["gateways"], results[other]
            print(f"\nratios gateways / {other} (lower is better):")
            for key in COMPARED:
                print(f"  {key:<22} {g[key] / o[key]:.2f}")
    gateways = results.get("gateways")
    if gateways is not None:
        for key, target, unit in (
            ("p99_ms", TARGET_P99_MS, "ms broadcast p99"),
            ("kib_per_socket", TARGET_KIB_PER_SOCKET, "KiB per idle socket"),
        ):
            verdict = "meets" if gateways[key] <= target else "MISSES"
            print(f"gateways {verdict} the target of {target:g} {unit} ({gateways[key]:.1f})")


def json_payload(
    results: dict[str, dict[str, float]], samples: dict[str, list[float]], args: argparse.Namespace
) -> dict[str, Any]:
    case = f"broadcast to {args.fanout}"
    rows = [
        result_row(
            name,
            case,
            r["p99_ms"],
            latency_ms={"p50": r["p50_ms"], "p99": r["p99_ms"], "last": r["last_socket_median_ms"]},
            **{k: v for k, v in r.items() if not k.endswith("_ms") or k.startswith("cpu")},
        )
        for name, r in results.items()
    ]
    return {
        "bench": "websocket_bench",
        "title": f"WebSocket broadcast to {args.fanout} sockets and {args.idle} idle sockets: "
        "gateways vs Channels 4 vs a bare websockets server",
        "unit": "ms (broadcast p99)",
        "higher_is_better": False,
        "results": rows,
        "ratios": _ratios(results, case, args),
        "distributions": {name: _thin(s) for name, s in samples.items()},
        "notes": "extra.kib_per_socket: resident memory per idle socket of the process holding "
        "the sockets; extra.cpu_ms_per_broadcast: CPU time of the server processes per "
        "broadcast (gateways: serve + worker; Redis not counted). The bare websockets "
        "server is the floor: what the client process can receive."
        + "".join(f" {name} failed: {why}." for name, why in args.failures.items()),
    }


def _ratios(
    results: dict[str, dict[str, float]], case: str, args: argparse.Namespace
) -> list[dict[str, Any]]:
    g = results.get("gateways")
    if g is None:
        return []
    rows = [
        ratio_row("gateways p99 / 100 ms", case, g["p99_ms"], TARGET_P99_MS, target=1.0,
                  target_op="<="),
        ratio_row(f"gateways KiB per idle socket / {TARGET_KIB_PER_SOCKET:g}",
                  f"{args.idle} idle", g["kib_per_socket"], TARGET_KIB_PER_SOCKET, target=1.0,
                  target_op="<="),
    ]  # fmt: skip
    for other in ("bare", "channels4"):
        if other in results:
            o = results[other]
            for key in COMPARED:
                rows.append(ratio_row(f"gateways / {LABELS[other]}: {key}", case, g[key], o[key]))
    return rows


def _thin(samples: list[float]) -> list[float]:
    step = max(1, -(-len(samples) // MAX_SAMPLES))
    return samples[::step]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--fanout", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--only", action="append", choices=list(STACKS))
    parser.add_argument(
        "--settle", type=float, default=180.0, help="longest wait for a quiet CPU between stages"
    )
    add_report_arguments(parser, quick="1,000 idle sockets, broadcast to 200 x 5 rounds")
    args = parser.parse_args()
    if args.quick:
        args.idle, args.fanout, args.rounds, args.settle = 1000, 200, 5, 5.0
    return args


def main() -> None:
    if sys.argv[1:2] == ["--hold"]:
        raise_fd_limit()
        asyncio.run(hold_sockets(sys.argv[2], int(sys.argv[3])))
        return
    args = parse_args()
    limit = raise_fd_limit()
    if limit < args.idle + 1000:
        sys.exit(f"the hard file-descriptor limit ({limit}) is too low for {args.idle} sockets")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    args.failures = {}
    results, samples = run(args)
    report(results, args)
    if args.json:
        write_json(args.json, json_payload(results, samples, args))


if __name__ == "__main__":
    main()
