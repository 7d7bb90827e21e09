"""How cost grows: throughput and p99 latency as connections, sockets and groups grow.

    .venv/bin/python bench/scaling.py [--quick] [--only http|ws|groups] [--json FILE]

Three sweeps; at each size every stack runs in turn (side by side, so the machine's noise
hits them alike), and a stack that fails at a size (errors, refusals, timeouts, a dead
process) records that point as failed with the reason: its curve stops there.

1. **http**: ``wrk -t1 -cN -d5s --latency`` against a hello route, N keep-alive clients
   from 10 to 5,000: gateways embedded (``serve --plugin http``, memory layer, the hello
   route of http_hello.py), uvicorn and Daphne 4 (bare ASGI app); at fewer sizes also
   gateways over Redis (``serve`` + one ``worker``) and Channels 1 (Daphne 1 + runworker).
   Figures: requests/s and wrk's p99.
2. **ws**: N WebSockets open on one server (100 to 10,000), then **broadcast fan-out**:
   one socket sends ``broadcast:<n>``, the server sends ``<n>`` to all N; latency = its
   arrival at each socket - the send. Figures: deliveries/s (N / time until the last
   socket got it, median over rounds) and p99 over every arrival of every round. Stacks:
   gateways embedded (memory layer), gateways over Redis (``serve`` + ``worker``),
   Channels 4 + Daphne 4 + channels_redis, a bare ``websockets`` server (bench/ws_bare.py:
   the floor). The client is bench/wsclient.py (one asyncio protocol per socket, in this
   process).
3. **groups**: one ``group_send`` to N members (10 to 10,000) on the gateways Redis layer
   and channels_redis 4, with N pipelined RPUSH as the floor (bench/scaling_groups.py).
   Figures: deliveries/s (N / mean time), mean and p99 of the timed sends.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen, wsclient  # noqa: E402
from bench.anchors import launch  # noqa: E402
from bench.report_json import ratio_row, result_row, write_json  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402

# full sizes, quick sizes
SIZES = {
    "http": ([10, 50, 100, 500, 1000, 2000, 5000], [10, 1000]),
    "http_redis": ([10, 100, 1000], [100]),
    "ws": ([100, 500, 1000, 2000, 5000, 10000], [100, 1000]),
    "groups": ([10, 100, 1000, 5000, 10000], [10, 1000]),
}
PARTS = {"http": "connections", "ws": "sockets", "groups": "members"}
MAX_ERROR_SHARE = 0.001  # more failed requests than this fails an HTTP point
# wrk opens its N connections inside the timed run; runs are at least N / this seconds
# long so that opening them stays a small part of it (5,000 clients: 10 s)
CONNECTS_PER_S = 500
# gateways-tuned: no 503 while 20,000 requests wait for the worker (the default capacity
# of 100 answers 503 beyond about 164 requests in flight: 100 queued + 64 running), and
# the listen backlog of uvicorn (Twisted's default is 50: a burst of connections overflows
# it and waits for SYN retransmissions).
TUNED_LAYER = "memory://?channel_capacity=http.request:20000"
TUNED_LISTEN = ["--http-endpoint", "tcp:0:interface=127.0.0.1:backlog=2048"]
PREFIX = "broadcast:"  # what websocket_bench_app, Channels 4's consumer and ws_bare fan out
# A burst of N handshakes (and of N closes after each point) must queue, not be refused:
# a websocket.disconnect refused leaves its socket in the group (until group_expiry), and
# later points would broadcast to dead members too.
WS_QUERY = (
    "inbox_capacity=100000&channel_capacity=websocket.connect:100000"
    "&channel_capacity=websocket.disconnect:100000"
)


@dataclass
class Point:
    """One stack at one size."""

    x: int
    throughput: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    failed: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stack:
    """A contender of one sweep: how to measure a point, which sizes it runs."""

    name: str
    measure: Callable[[int], Point]
    sizes: Sequence[int] | None = None  # None: every size of the sweep
    points: list[Point] = field(default_factory=list)

    @property
    def stopped(self) -> bool:
        return any(p.failed for p in self.points)


def sweep(part: str, sizes: Sequence[int], stacks: list[Stack], unit: str) -> list[Stack]:
    """For each size, every stack in turn; a failed point ends that stack's curve."""
    for size in sorted(set(sizes)):
        for stack in stacks:
            if stack.stopped or (stack.sizes is not None and size not in stack.sizes):
                continue
            try:
                point = stack.measure(size)
            except Exception as exc:  # a broken point is a result, not a crash
                point = Point(size, failed=f"{type(exc).__name__}: {exc}"[:300])
            stack.points.append(point)
            print(_line(part, stack.name, point, unit), flush=True)
    return stacks


def _line(part: str, name: str, point: Point, unit: str) -> str:
    head = f"{part:<6} {name:<16} {point.x:>6}"
    if point.failed:
        return f"{head}  FAILED: {point.failed}"
    p50, p99 = point.latency_ms.get("p50", 0.0), point.latency_ms.get("p99", 0.0)
    return f"{head} {point.throughput:>12,.0f} {unit}  p50 {p50:>8.2f} ms  p99 {p99:>8.2f} ms"


# -- starting the stacks ------------------------------------------------------------------

Target = Any  # what a point's measure needs to reach a stack: a URL, (host, port, path)
Started = tuple[Target, list[int]]  # ... and the pids whose CPU time is the stack's


def start_stacks(
    starters: dict[str, Callable[[], Started]],
    measure: Callable[[Target, list[int], argparse.Namespace, int], Point],
    args: argparse.Namespace,
    sizes: dict[str, Sequence[int]] | None = None,
) -> list[Stack]:
    """Start each stack; one that does not start fails its first point with the reason
    (the other stacks still run)."""
    stacks = []
    for name, start in starters.items():
        try:
            target, pids = start()
        except Exception as exc:
            reason = f"did not start: {type(exc).__name__}: {str(exc)[-300:]}"
            print(f"{name}: {reason}", file=sys.stderr, flush=True)
            stacks.append(Stack(name, functools.partial(_not_started, reason)))
            continue
        bound = functools.partial(measure, target, pids, args)
        stacks.append(Stack(name, bound, (sizes or {}).get(name)))
    return stacks


def _not_started(reason: str, n: int) -> Point:
    return Point(n, failed=reason)


def gateways_embedded(
    stack: ExitStack, app: str, plugins: list[str], layer: str, listen: Sequence[str] = ()
) -> Any:
    """``gateways serve APP`` with the memory layer (embedded worker)."""
    argv = ["serve", app, *plugins, "--layer", layer, *(listen or ["--http-port", "0"])]
    return gateways_process(stack, argv)


def gateways_process(stack: ExitStack, argv: list[str]) -> Any:
    """A gateways process stopped with the sweep, which then prints its errors."""
    process = GatewaysProcess(argv, env={"PYTHONPATH": str(HERE)})
    stack.callback(launch.print_errors, process)
    stack.callback(process.close)
    return process


def gateways_redis(
    stack: ExitStack, app: str, plugins: list[str], layer: str
) -> tuple[Any, list[int]]:
    """``gateways serve`` (interfaces only) plus one ``gateways worker APP``."""
    serve = gateways_process(stack, ["serve", *plugins, "--layer", layer, "--http-port", "0"])
    worker = gateways_process(stack, ["worker", app, "--layer", layer])
    return serve, [serve.proc.pid, worker.proc.pid]


def launch_alive(pids: Sequence[int]) -> bool:
    return all(Path(f"/proc/{pid}").exists() for pid in pids)


# -- http ---------------------------------------------------------------------------------


def http_point(url: str, pids: list[int], args: argparse.Namespace, n: int) -> Point:
    """One wrk run of ``n`` keep-alive connections; CPU time of the server's processes."""
    waited = loadgen.settle(pids)
    cpu = loadgen.cpu_seconds(pids)
    duration = max(args.duration, math.ceil(n / CONNECTS_PER_S))
    run = loadgen.wrk(url, n, duration, args.threads)
    cpu = loadgen.cpu_seconds(pids) - cpu
    point = Point(n, run.rate, run.latency_ms)
    point.extra = {"requests": run.requests, "errors": run.errors, "settle_s": round(waited, 1),
                   "duration_s": duration}  # fmt: skip
    if run.requests:
        point.extra["server_cpu_ms_per_1k"] = round(cpu * 1e6 / run.requests, 1)
    if not launch_alive(pids):
        point.failed = "a server process exited"
    elif run.requests == 0:
        point.failed = "no request answered: " + run.output.strip()[-200:]
    elif run.error_count > MAX_ERROR_SHARE * run.requests:
        point.failed = f"{run.error_count} failed of {run.requests} requests: {run.errors}"
    elif run.requests < n:  # wrk's latencies would be those of the few that got through
        point.failed = f"{run.requests} answers for {n} clients in {duration:g} s"
    return point


def http_stacks(stack: ExitStack, args: argparse.Namespace) -> list[Stack]:
    plugins, app = ["--plugin", "http"], "http_hello:routes"

    def embedded(layer: str, listen: Sequence[str] = ()) -> Started:
        process = gateways_embedded(stack, app, plugins, layer, listen)
        return process.url + "/", [process.proc.pid]

    def anchor(
        start: Callable[..., launch.Anchor], *more: Any, shared: Sequence[int] = ()
    ) -> Started:
        started = stack.enter_context(start(launch.free_port(), *more))
        return started.url, [*started.pids.values(), *shared]

    starters: dict[str, Callable[[], Started]] = {
        "gateways": lambda: embedded("memory://"),
        "gateways-tuned": lambda: embedded(TUNED_LAYER, TUNED_LISTEN),
        "uvicorn": lambda: anchor(launch.start_uvicorn),
        "daphne4": lambda: anchor(launch.start_daphne4),
    }
    redis_sizes = args.sizes["http_redis"]
    if redis_sizes:
        redis = stack.enter_context(launch.start_redis(launch.free_port()))
        shared = list(redis.pids.values())

        def over_redis() -> Started:
            serve, pids = gateways_redis(stack, app, plugins, redis.url)
            return serve.url + "/", [*pids, *shared]

        starters["gateways-redis"] = over_redis
        starters["channels1"] = lambda: anchor(
            launch.start_channels1, redis.url[:-1] + "1", shared=shared
        )
    sizes = {"gateways-redis": redis_sizes, "channels1": redis_sizes}
    return start_stacks(starters, http_point, args, sizes)


# -- ws -----------------------------------------------------------------------------------


def ws_point(
    address: tuple[str, int, str], pids: list[int], args: argparse.Namespace, n: int
) -> Point:
    """``n`` sockets open, broadcast rounds until ``args.rounds`` or the time budget."""
    waited = loadgen.settle(pids)
    if not launch_alive(pids):
        return Point(n, failed="a server process exited")
    point = asyncio.run(_fanout(address, pids, n, args))
    waited += loadgen.settle(pids)  # the closes are worked off before the next stack runs
    point.extra["settle_s"] = round(waited, 1)
    return point


async def _fanout(address: tuple[str, int, str], pids: list[int], n: int,
                  args: argparse.Namespace) -> Point:  # fmt: skip
    started = time.monotonic()
    sockets, errors = await wsclient.open_sockets(*address, n)
    point = Point(n, extra={"open_s": round(time.monotonic() - started, 2)})
    try:
        if errors:
            point.failed = f"{len(errors)} of {n} sockets did not open: {errors[0][:200]}"
            return point
        latencies, lasts, cpu = await _rounds(wsclient.Fanout(sockets), pids, args)
    except TimeoutError as exc:
        point.failed = str(exc)
        return point
    finally:
        wsclient.close_all(sockets)
    point.extra["server_cpu_us_per_delivery"] = round(cpu * 1e6 / (n * len(lasts)), 2)
    return _fanout_figures(point, latencies, lasts)


async def _rounds(
    fanout: wsclient.Fanout, pids: list[int], args: argparse.Namespace
) -> tuple[list[float], list[float], float]:
    """A warm-up round, then up to ``args.rounds`` within the time budget (at least 3):
    every arrival's latency, each round's last one, the servers' CPU seconds."""
    await fanout.round(PREFIX, 0, args.round_timeout)
    latencies, lasts = [], []
    cpu, budget = loadgen.cpu_seconds(pids), time.monotonic() + args.ws_budget
    for number in range(1, args.rounds + 1):
        arrived = await fanout.round(PREFIX, number, args.round_timeout)
        latencies += arrived
        lasts.append(max(arrived))
        if number >= 3 and time.monotonic() > budget:
            break
    return latencies, lasts, loadgen.cpu_seconds(pids) - cpu


def _fanout_figures(point: Point, latencies: list[float], lasts: list[float]) -> Point:
    point.throughput = round(point.x / statistics.median(lasts), 1)
    point.latency_ms = percentiles(latencies)
    point.extra.update(rounds=len(lasts), last_socket_ms=round(statistics.median(lasts) * 1e3, 2))
    return point


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99 in ms (``inclusive``: with few samples p99 is near the slowest)."""
    cuts = [seconds[0]] * 99 if len(seconds) == 1 else statistics.quantiles(
        seconds, n=100, method="inclusive")  # fmt: skip
    return {"p50": round(cuts[49] * 1e3, 3), "p90": round(cuts[89] * 1e3, 3),
            "p99": round(cuts[98] * 1e3, 3)}  # fmt: skip


def ws_stacks(stack: ExitStack, args: argparse.Namespace) -> list[Stack]:
    plugins = ["--plugin", "http", "--plugin", "websocket"]
    app = "websocket_bench_app:routes"
    redis = stack.enter_context(launch.start_redis(launch.free_port()))
    shared = list(redis.pids.values())

    def embedded() -> Started:
        process = gateways_embedded(stack, app, plugins, f"memory://?{WS_QUERY}")
        return (*process.address("http"), "/bench"), [process.proc.pid]

    def over_redis() -> Started:
        serve, pids = gateways_redis(stack, app, plugins, f"{redis.url}?{WS_QUERY}")
        return (*serve.address("http"), "/bench"), [*pids, *shared]

    def channels4() -> Started:
        url = redis.url[:-1] + "1"
        c4 = stack.enter_context(launch.start_channels4(launch.free_port(), url, flush=True))
        return (c4.host, c4.port, "/bench"), [*c4.pids.values(), *shared]

    def bare() -> Started:
        program = [sys.executable, str(HERE / "ws_bare.py")]
        process = GatewaysProcess(["--port", "0"], program=program, ready="listening on")
        stack.callback(process.close)
        return (*process.address("ws"), "/bench"), [process.proc.pid]

    starters = {"gateways": embedded, "gateways-redis": over_redis, "channels4": channels4,
                "websockets": bare}  # fmt: skip
    return start_stacks(starters, ws_point, args)


# -- groups -------------------------------------------------------------------------------


class GroupChild:
    """A long-lived scaling_groups.py process answering ``SIZE SENDS`` lines."""

    def __init__(self, python: Path, contender: str, url: str) -> None:
        argv = [str(python), str(HERE / "scaling_groups.py"), contender, url]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, size: int, sends: int, timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{size} {sends}\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            return {"error": f"no answer within {timeout:.0f}s (exit {self.proc.poll()})"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def group_point(child: GroupChild, pids: list[int], args: argparse.Namespace, n: int) -> Point:
    answer = child.ask(n, args.sends, timeout=600)
    if "error" in answer:
        return Point(n, failed=answer["error"])
    seconds = answer["seconds"]
    mean = statistics.fmean(seconds)
    point = Point(n, round(n / mean, 1), percentiles(seconds))
    point.extra = {"mean_ms": round(mean * 1e3, 3), "sends": len(seconds)}
    return point


def group_stacks(stack: ExitStack, args: argparse.Namespace) -> list[Stack]:
    redis = stack.enter_context(launch.start_redis(launch.free_port()))
    base = redis.url[:-1]

    def child(python: Path, contender: str, database: str) -> Started:
        process = GroupChild(python, contender, base + database)
        stack.callback(process.close)
        return process, [process.proc.pid]

    ours, daphne4 = Path(sys.executable), launch.VENVS / "daphne4" / "bin" / "python"
    starters = {
        "gateways": lambda: child(ours, "gateways", "0"),
        "channels_redis": lambda: child(daphne4, "channels_redis", "1"),
        "redis RPUSH floor": lambda: child(ours, "raw", "2"),
    }
    return start_stacks(starters, group_point, args)


# -- output -------------------------------------------------------------------------------


def payload(done: dict[str, list[Stack]], args: argparse.Namespace) -> dict[str, Any]:
    results, series, ratios = [], [], []
    for part, stacks in done.items():
        unit = "req/s" if part == "http" else "deliveries/s"
        for stack in stacks:
            results += [_row(part, stack.name, p, unit) for p in stack.points]
            series += _series(part, stack, unit)
        ratios += _ratios(part, stacks)
    return {
        "bench": "scaling",
        "title": "How cost grows: throughput and p99 vs connections, sockets, group members",
        "unit": "req/s (http), deliveries/s (ws, groups)",
        "higher_is_better": True,
        "results": results,
        "ratios": ratios,
        "series": series,
        "notes": NOTES + (" Quick run." if args.quick else ""),
    }


NOTES = (
    "value = throughput (http: wrk requests/s; ws: broadcast deliveries/s = sockets / "
    "time until the last socket got it; groups: members / mean group_send time); "
    "latency_ms = p50/p90/p99 (http: wrk; ws: arrival - send over every socket and round; "
    "groups: per group_send). A failed point has value 0 and extra.failed; a series stops "
    "before it and names it in `failed`."
)


def _row(part: str, stack: str, point: Point, unit: str) -> dict[str, Any]:
    extra = {**point.extra, "unit": unit, PARTS[part]: point.x}
    if point.failed:
        extra["failed"] = point.failed
    return result_row(stack, f"{part} {point.x}", point.throughput, latency_ms=point.latency_ms,
                      **extra)  # fmt: skip


# Beside throughput and p99, the server processes' CPU time per unit of work: the cost
# itself, steadier than wall-clock figures on a shared machine.
CPU_SERIES = {
    "http": ("server CPU ms per 1k requests", "server_cpu_ms_per_1k"),
    "ws": ("server CPU us per delivery", "server_cpu_us_per_delivery"),
}


def _series(part: str, stack: Stack, unit: str) -> list[dict[str, Any]]:
    good = [p for p in stack.points if not p.failed]
    failed = [{"x": p.x, "reason": p.failed} for p in stack.points if p.failed]
    metrics = [(unit, [p.throughput for p in good]),
               ("p99 ms", [p.latency_ms.get("p99") for p in good])]  # fmt: skip
    if part in CPU_SERIES:
        name, key = CPU_SERIES[part]
        metrics.append((name, [p.extra.get(key) for p in good]))
    out = []
    for metric, y in metrics:
        # one chart per metric: the part's name keeps the three sweeps apart
        item = {"stack": stack.name, "part": part, "metric": f"{part} {metric}",
                "x_name": PARTS[part], "x": [p.x for p in good], "y": y}  # fmt: skip
        if failed:
            item["failed"] = failed[0]
        out.append(item)
    return out


RATIOS = {
    "http": [("gateways", "uvicorn"), ("gateways", "daphne4"), ("gateways-tuned", "uvicorn"),
             ("gateways-tuned", "daphne4"), ("gateways-redis", "channels1")],
    "ws": [("gateways", "websockets"), ("gateways-redis", "channels4")],
    "groups": [("gateways", "channels_redis"), ("gateways", "redis RPUSH floor")],
}  # fmt: skip


def _ratios(part: str, stacks: list[Stack]) -> list[dict[str, Any]]:
    """gateways / anchor throughput at the largest size both reached (the series have
    every size)."""
    by_name = {s.name: {p.x: p for p in s.points if not p.failed} for s in stacks}
    rows = []
    for ours, anchor in RATIOS[part]:
        mine, theirs = by_name.get(ours, {}), by_name.get(anchor, {})
        common = sorted(mine.keys() & theirs.keys())
        if common:
            x = common[-1]
            rows.append(ratio_row(f"{ours} / {anchor}", f"{part} {x}", mine[x].throughput,
                                  theirs[x].throughput))  # fmt: skip
    return rows


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few sizes, short runs")
    parser.add_argument("--only", action="append", choices=list(PARTS))
    parser.add_argument("--json", metavar="FILE", help="write the results there (bench JSON)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run [5; quick 1]")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads [1]")
    parser.add_argument("--rounds", type=int, help="ws: most broadcast rounds a point [10; 5]")
    parser.add_argument("--ws-budget", type=float, help="ws: seconds of rounds a point [8; 3]")
    parser.add_argument("--round-timeout", type=float, default=60.0)
    parser.add_argument("--sends", type=int, help="groups: timed sends a size [30; 10]")
    for part, (full, _quick) in SIZES.items():
        what = "gateways-redis, channels1 (among http's)" if part == "http_redis" else part
        parser.add_argument(f"--{part.replace('_', '-')}-sizes", metavar="N,N,...",
                            help=f"sizes for {what} [{','.join(map(str, full))}]")  # fmt: skip
    args = parser.parse_args(argv)
    quick = args.quick
    args.duration = args.duration or (1 if quick else 5)
    args.rounds = args.rounds or (5 if quick else 10)
    args.ws_budget = args.ws_budget or (3 if quick else 8)
    args.sends = args.sends or (10 if quick else 30)
    args.sizes = {}
    for part, (full, short) in SIZES.items():
        given = getattr(args, f"{part}_sizes")
        args.sizes[part] = (
            [int(s) for s in given.split(",") if s]  # "" runs none
            if given is not None
            else (short if quick else full)
        )
    return args


SWEEPS: dict[str, tuple[Callable[[ExitStack, argparse.Namespace], list[Stack]], str]] = {
    "http": (http_stacks, "req/s"),
    "ws": (ws_stacks, "deliveries/s"),
    "groups": (group_stacks, "deliveries/s"),
}


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    limit = loadgen.raise_fd_limit()
    if limit < max(args.sizes["ws"] + args.sizes["http"], default=0) + 1000:
        sys.exit(f"the file-descriptor hard limit ({limit}) is too low for these sizes")
    started, done = time.monotonic(), {}
    for part in args.only or list(PARTS):
        build, unit = SWEEPS[part]
        with ExitStack() as stack:
            done[part] = sweep(part, args.sizes[part], build(stack, args), unit)
    print(f"\nscaling: {time.monotonic() - started:.0f} s in all")
    if args.json:
        write_json(args.json, payload(done, args))


if __name__ == "__main__":
    main()
