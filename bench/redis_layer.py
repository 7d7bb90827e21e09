"""Redis channel layer throughput, side by side with channels_redis 4 and raw Redis.

    .venv/bin/python bench/redis_layer.py [--messages 20000] [--groups 30] [--rounds 3]
                                          [--loop uvloop|asyncio ...] [--quick] [--json FILE]

One redis-server (from bench/anchors/launch.py) serves every contender in turn; each
contender runs in a subprocess of its own (channels_redis from bench/.venvs/daphne4).
Every contender of a pass runs on the same event loop; by default there are two passes:
uvloop, the loop gateways runs on as deployed (``--loop auto``, its default), whose
figures carry the targets, then the standard asyncio loop (``--loop`` names the loops).
Workloads, the same for every contender:

- **send+receive**: one producer task sends N small messages to one channel, awaiting
  each send, while one consumer task receives them one by one, on one event loop;
  messages/s over the whole transfer.
- **many producers, one batch consumer**: 50 producer tasks (an interface process with
  many connections) send N messages in all, while one consumer takes them as a worker
  does: gateways ``receive_many(..., 100)``; channels_redis, which has no batch receive,
  100 concurrent ``receive()`` calls (a worker with 100 slots).
- **receive of already-queued messages**: N sent first, then the time to receive them
  all (a busy worker's situation: messages are waiting).
- **group_send to 1,000 members**: the time of one ``group_send`` (members are ordinary
  channels, so both layers store one key per member), averaged over ``--groups`` sends.

Ceilings, measured in the same run with redis-py and msgpack (no expiry, capacity or
naming; each figure above is also reported as a fraction of its ceiling):

- **raw batched**: LPUSH of 100 messages per command (pipelined, up to 8 in flight)
  against ``LPOP key 100``: what Redis itself can move; ceiling of every message figure.
- **raw one at a time**: LPUSH and BLPOP one message per command, awaited as the layers
  are (``send+receive``, ``already queued``; ``many producers``: 50 LPUSH tasks and one
  BLMPOP ... COUNT 100).
- **group_send**: 1,000 RPUSHes in one pipeline, and in one Lua script.

Besides messages/s, each row carries the client process's CPU time and redis-server's
CPU time per message (µs), which a busy machine disturbs less than wall-clock rates.
Each contender runs ``--rounds`` times; the best round counts (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OURS = ROOT / ".venv" / "bin" / "python"
DAPHNE4 = HERE / ".venvs" / "daphne4" / "bin" / "python"
MESSAGE = {"type": "bench.message", "text": "hello world", "n": 0}
PRODUCERS = 50  # many-producers workload
SLOTS = 100  # its consumer's batch (worker slots)
MEMBERS = 1000  # group_send
RAW_BATCH = 100  # raw batched ceiling: messages per LPUSH / LPOP

Send = Callable[[dict[str, Any]], Awaitable[Any]]
Receive = Callable[[], Awaitable[Any]]
ReceiveMany = Callable[[int], Awaitable[int]]  # (at most) -> how many it took


# -- measuring (inside the subprocess) ----------------------------------------------------


class Meter:
    """Wall time, this process's CPU time and redis-server's CPU time over one phase."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __call__(self, count: int, phase: Awaitable[Any]) -> dict[str, float]:
        server0, cpu0, wall0 = await self._server_cpu(), _cpu(), time.perf_counter()
        await phase
        wall, cpu, server = time.perf_counter() - wall0, _cpu() - cpu0, await self._server_cpu()
        return {
            "rate": count / wall,
            "seconds": wall,
            "cpu_us": cpu / count * 1e6,
            "redis_cpu_us": (server - server0) / count * 1e6,
        }

    async def _server_cpu(self) -> float:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(self.url)
        try:
            info = await client.info("cpu")
        finally:
            await client.aclose()
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _cpu() -> float:
    return time.process_time()  # user + system, finer than os.times()


# -- workloads (inside the subprocess) ---------------------------------------------------


async def pipe(send: Send, receive: Receive, count: int) -> None:
    """One producer, one consumer, one message at a time each."""

    async def produce() -> None:
        for i in range(count):
            await send({**MESSAGE, "n": i})

    producer = asyncio.ensure_future(produce())
    for _ in range(count):
        await receive()
    await producer


async def crowd(send: Send, receive_many: ReceiveMany, count: int) -> None:
    """Many producers (each awaiting its sends), one consumer taking batches."""

    async def produce(first: int) -> None:
        for i in range(first, count, PRODUCERS):
            await send({**MESSAGE, "n": i})

    producers = asyncio.gather(*(produce(p) for p in range(PRODUCERS)))
    taken = 0
    while taken < count:
        taken += await receive_many(min(SLOTS, count - taken))
    await producers


async def fill(send: Send, count: int) -> None:
    for i in range(count):
        await send({**MESSAGE, "n": i})


async def drain(receive: Receive, count: int) -> None:
    for _ in range(count):
        await receive()


async def group_sends(layer: Any, sends: int) -> None:
    for n in range(sends):
        await layer.group_send("bench-group", {**MESSAGE, "n": n})


async def group_members(layer: Any) -> None:
    for i in range(MEMBERS):
        await layer.group_add("bench-group", f"bench.member.{i}")


async def layer_figures(
    url: str, count: int, groups: int, layer: Any, ops: tuple[Send, Receive, ReceiveMany]
) -> dict[str, Any]:
    """Every workload on a layer (gateways or channels_redis) through ``ops``."""
    meter, (send, receive, receive_many) = Meter(url), ops
    await layer.flush()
    figures = {"send_receive": await meter(count, pipe(send, receive, count))}
    figures["many_producers"] = await meter(count, crowd(send, receive_many, count))
    await fill(send, count)
    figures["receive_ready"] = await meter(count, drain(receive, count))
    await group_members(layer)
    figures["group_send"] = await meter(groups, group_sends(layer, groups))
    await layer.flush()
    return figures


# -- contenders (inside the subprocess) --------------------------------------------------


async def gateways_layer(url: str, count: int, groups: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from gateways.layers import get_layer

    layer = get_layer(url, capacity=count + 1, channel_capacity={"bench.member.*": groups + 1})

    async def receive_many(limit: int) -> int:
        return len(await layer.receive_many(["bench.pipe"], limit))

    ops = (
        lambda m: layer.send("bench.pipe", m),
        lambda: layer.receive(["bench.pipe"]),
        receive_many,
    )
    try:
        return await layer_figures(url, count, groups, layer, ops)
    finally:
        await layer.close()


async def channels_redis_layer(url: str, count: int, groups: int) -> dict[str, Any]:
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(hosts=[{"address": url, "socket_timeout": None}], capacity=count + 1)

    async def receive_many(limit: int) -> int:  # no batch receive: a worker's slots at once
        await asyncio.gather(*(layer.receive("bench.pipe") for _ in range(limit)))
        return limit

    ops = (
        lambda m: layer.send("bench.pipe", m),
        lambda: layer.receive("bench.pipe"),
        receive_many,
    )
    try:
        return await layer_figures(url, count, groups, layer, ops)
    finally:
        await layer.close_pools()


async def raw_one_at_a_time(url: str, count: int, groups: int) -> dict[str, Any]:
    """redis-py LPUSH / BLPOP, one message per command: the layers' shape, nothing else."""
    import msgpack
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, socket_timeout=None, max_connections=200)
    meter = Meter(url)

    def send(message: dict[str, Any]) -> Awaitable[Any]:
        return client.lpush("bench.raw", msgpack.packb(message))

    async def receive() -> dict[str, Any]:
        popped: Any = await client.blpop(["bench.raw"], 0)
        return msgpack.unpackb(popped[1])

    async def receive_many(limit: int) -> int:
        _, entries = await client.execute_command(
            "BLMPOP", 0, 1, "bench.raw", "LEFT", "COUNT", limit
        )
        return len([msgpack.unpackb(e) for e in entries])

    await client.delete("bench.raw")
    figures = {"send_receive": await meter(count, pipe(send, receive, count))}
    figures["many_producers"] = await meter(count, crowd(send, receive_many, count))
    await fill(send, count)
    figures["receive_ready"] = await meter(count, drain(receive, count))
    await client.aclose()
    return figures


async def raw_ceiling(url: str, count: int, groups: int) -> dict[str, Any]:
    """What Redis itself moves: 100 messages per LPUSH and per LPOP, pipelined; and a
    1,000-member group_send as 1,000 RPUSHes in one pipeline, and in one script."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, socket_timeout=None)
    meter = Meter(url)
    await client.delete("bench.ceiling")
    batched = await meter(count, _batched_transfer(client, count))
    figures = {"send_receive": batched, "many_producers": batched, "receive_ready": batched}
    figures["group_send_pipeline"] = await meter(groups, _rpush_pipelines(client, groups))
    figures["group_send_script"] = await meter(groups, _rpush_scripts(client, groups))
    figures["group_send"] = max(  # the faster of the two is the ceiling
        figures["group_send_pipeline"], figures["group_send_script"], key=lambda f: f["rate"]
    )
    await client.delete(*[f"bench.member.{i}" for i in range(MEMBERS)])
    await client.aclose()
    return figures


async def _batched_transfer(client: Any, count: int) -> None:
    import msgpack

    batches = [range(i, min(i + RAW_BATCH, count)) for i in range(0, count, RAW_BATCH)]
    in_flight = asyncio.Semaphore(8)

    async def push(batch: range) -> None:
        async with in_flight:
            await client.lpush(
                "bench.ceiling", *[msgpack.packb({**MESSAGE, "n": i}) for i in batch]
            )

    producer = asyncio.gather(*(push(batch) for batch in batches))
    taken = 0
    while taken < count:
        got = await client.lpop("bench.ceiling", RAW_BATCH)
        taken += len([msgpack.unpackb(data) for data in got or ()])
    await producer


async def _rpush_pipelines(client: Any, sends: int) -> None:
    import msgpack

    for n in range(sends):
        data = msgpack.packb({**MESSAGE, "n": n})
        pipeline = client.pipeline(transaction=False)
        for i in range(MEMBERS):
            pipeline.rpush(f"bench.member.{i}", data)
        await pipeline.execute()


RPUSH_ALL = "for i, key in ipairs(KEYS) do redis.call('RPUSH', key, ARGV[1]) end"


async def _rpush_scripts(client: Any, sends: int) -> None:
    import msgpack

    script = client.register_script(RPUSH_ALL)
    keys = [f"bench.member.{i}" for i in range(MEMBERS)]
    for n in range(sends):
        await script(keys=keys, args=[msgpack.packb({**MESSAGE, "n": n})])


CONTENDERS = {
    "gateways": (OURS, gateways_layer),
    "channels_redis 4": (DAPHNE4, channels_redis_layer),
    "raw one at a time": (OURS, raw_one_at_a_time),
    "raw batched (ceiling)": (OURS, raw_ceiling),
}
CASES = {
    "send_receive": "send+receive (msg/s)",
    "many_producers": f"{PRODUCERS} producers, batch consumer (msg/s)",
    "receive_ready": "receive already queued (msg/s)",
    "group_send": f"group_send to {MEMBERS:,} members (ms)",
}
TARGETS = {"send_receive": 10.0, "group_send": 15.0}
#: The loops of the passes; the first is gateways' own default, which the targets judge.
LOOPS = ("uvloop", "asyncio")


# -- driver ----------------------------------------------------------------------------


def run_contender(name: str, url: str, opts: argparse.Namespace, loop: str) -> dict[str, Any]:
    python = CONTENDERS[name][0]
    sizes = [str(opts.messages), str(opts.groups)]
    args = [str(python), __file__, "--child", name, url, *sizes, loop]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(opts: argparse.Namespace, loop: str) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Every contender's figures per case on ``loop``, one entry per round."""
    sys.path.insert(0, str(ROOT))
    from bench.anchors.launch import free_port, start_redis

    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    with start_redis(free_port()) as server:
        for _ in range(opts.rounds):
            for name in CONTENDERS:
                got = run_contender(name, server.url, opts, loop)
                for case, figures in got.items():
                    runs.setdefault(name, {}).setdefault(case, []).append(figures)
    return runs


def best(rounds: list[dict[str, float]], case: str) -> dict[str, float]:
    """The best round: highest rate (for group_send: the shortest time per send)."""
    return max(rounds, key=lambda figures: figures["rate"])


def value(figures: dict[str, float], case: str) -> float:
    """The figure reported: messages/s, or milliseconds per group_send."""
    return 1000 / figures["rate"] if case == "group_send" else figures["rate"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--groups", type=int, default=30, help="group_sends timed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="2,000 messages, 5 group_sends, 1 round"
    )
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        action="append",
        help="run every contender on this loop (repeat for several passes) [uvloop, asyncio]",
    )
    parser.add_argument("--json", help="write the figures there (bench/report_json.py shape)")
    opts = parser.parse_args()
    if opts.quick:
        opts.messages, opts.groups, opts.rounds = 2000, 5, 1
    loops = opts.loop or list(LOOPS)
    passes = {loop: measure(opts, loop) for loop in loops}
    print("\n\n".join(render(runs, opts, loop) for loop, runs in passes.items()))
    if opts.json:
        from bench.report_json import write_json

        write_json(opts.json, payload(passes, opts))


def ceiling_of(runs: dict[str, Any], case: str) -> float:
    return value(best(runs["raw batched (ceiling)"][case], case), case)


def fraction(runs: dict[str, Any], name: str, case: str) -> float:
    """A figure as a fraction of the raw batched ceiling of the same run."""
    mine, ceiling = value(best(runs[name][case], case), case), ceiling_of(runs, case)
    return ceiling / mine if case == "group_send" else mine / ceiling


def render(runs: dict[str, Any], opts: argparse.Namespace, loop: str) -> str:
    lines = [
        f"{opts.messages} messages, {opts.groups} group_sends, best of {opts.rounds}, {loop} loop"
    ]
    for case, title in CASES.items():
        lines.append(f"{title}:  figure | client CPU µs | redis CPU µs | of ceiling | gateways x")
        ours = value(best(runs["gateways"][case], case), case)
        for name in CONTENDERS:
            if case not in runs[name]:
                continue
            top = best(runs[name][case], case)
            mine = value(top, case)
            ratio = mine / ours if case == "group_send" else ours / mine
            lines.append(
                f"  {name:<22} {mine:>10.2f} {top['cpu_us']:>9.1f} {top['redis_cpu_us']:>9.1f}"
                f" {fraction(runs, name, case):>9.3f} {ratio:>8.2f}"
            )
    raw = runs["raw batched (ceiling)"]
    piped, script = (
        value(best(raw[f"group_send_{k}"], "group_send"), "group_send")
        for k in ("pipeline", "script")
    )
    lines.append(
        f"  (ceiling: 1,000 RPUSHes in one pipeline {piped:.2f} ms, one script {script:.2f})"
    )
    return "\n".join(lines)


def payload(passes: dict[str, dict[str, Any]], opts: argparse.Namespace) -> dict[str, Any]:
    """One JSON for every pass: the first loop's rows as they are, with the targets;
    a later loop's cases and ratios named with it (``send_receive (asyncio loop)``)."""
    results, ratios = [], []
    for n, (loop, runs) in enumerate(passes.items()):
        suffix = "" if n == 0 else f" ({loop} loop)"
        more_results, more_ratios = _pass_rows(runs, suffix, targets=n == 0)
        results += more_results
        ratios += more_ratios
    loops = " then ".join(passes)
    return {
        "bench": "redis_layer",
        "title": "Redis layer: gateways vs channels_redis 4 and raw Redis ceilings",
        "unit": "msg/s (group_send: ms)",
        "higher_is_better": True,
        "results": results,
        "ratios": ratios,
        "notes": (
            f"{opts.messages} messages, {opts.groups} group_sends to {MEMBERS} members, best of"
            f" {opts.rounds} rounds; every contender on one loop per pass ({loops}; the"
            " first is gateways' default loop, whose figures carry the targets);"
            " group_send values are ms per send (lower is better);"
            " extra.cpu_us / redis_cpu_us: CPU µs per message (per group_send) of the client"
            " process and of redis-server; fraction_of_ceiling: against the raw batched"
            " redis-py figure of the same run."
        ),
    }


def _pass_rows(
    runs: dict[str, Any], suffix: str, targets: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The result and ratio rows of one pass (one loop)."""
    from bench.report_json import ratio_row, result_row

    results, ratios = [], []
    for name, cases in runs.items():
        for case, rounds in cases.items():
            unit_case = "group_send" if case.startswith("group_send") else case
            top = best(rounds, unit_case)
            extra: dict[str, Any] = {k: top[k] for k in ("cpu_us", "redis_cpu_us")}
            if case in CASES:
                extra["fraction_of_ceiling"] = fraction(runs, name, case)
            row = result_row(name, case + suffix, value(top, unit_case), **extra)
            row["runs"] = [value(r, unit_case) for r in rounds]
            results.append(row)
    for case in CASES:
        ours = value(best(runs["gateways"][case], case), case)
        theirs = value(best(runs["channels_redis 4"][case], case), case)
        name = "channels_redis / gateways" if case == "group_send" else "gateways / channels_redis"
        numerator, denominator = (theirs, ours) if case == "group_send" else (ours, theirs)
        target = TARGETS.get(case) if targets else None
        ratios.append(ratio_row(name, case + suffix, numerator, denominator, target=target))
        for stack in ("gateways", "channels_redis 4"):
            ratios.append(
                ratio_row(f"{stack} / raw ceiling", case + suffix, fraction(runs, stack, case), 1.0)
            )
    return results, ratios


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        name, url, count, groups = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        if sys.argv[6] == "uvloop":
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        result = asyncio.run(CONTENDERS[name][1](url, count, groups))
        print(json.dumps(result))
    else:
        main()
