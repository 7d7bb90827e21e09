"""The cost of message groups: the same messages through two workers over Redis, once
numbered (``__seq__``: one at a time and in order per connection, across workers) and
once not (today's unordered path), alternating in one run.

    .venv/bin/python bench/ordering.py [--connections 50] [--messages 200] [--rounds 3]
                                       [--quick] [--json FILE]

Like an interface process, the driver sends ``messages`` per connection for
``connections`` connections (each its own reply channel under one process prefix) to
``bench.ordered``, as fast as the layer takes them, and receives the echoes of
``gateways worker ordering_app:routes`` (two processes) on its prefix. It reports
messages per second (first send to last echo) for both paths, their ratio, and the
inversions seen (per connection, an echo whose number is below one already seen): the
ordered path must show none. The goal: ordered at least 0.8x the unordered rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.anchors.launch import free_port, start_redis  # noqa: E402
from bench.report_json import add_report_arguments, ratio_row, result_row, write_json  # noqa: E402
from gateways.layers import get_layer  # noqa: E402
from gateways.layers.ordering import SEQ_KEY  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402

#: The goal for ordered / unordered messages per second.
TARGET = 0.8


async def one_run(url: str, connections: int, messages: int, ordered: bool) -> tuple[float, int]:
    """Messages per second, and inversions, for one pass of every message."""
    layer = get_layer(url)
    prefix = (await layer.new_channel("bench.conn")).split("!")[0] + "!"
    groups = [f"{prefix}{c}" for c in range(connections)]
    total = connections * messages
    started = time.perf_counter()

    async def produce() -> None:
        for n in range(messages):
            for group in groups:
                message = {"reply_channel": group, "n": n}
                if ordered:
                    message[SEQ_KEY] = n
                await layer.send("bench.ordered", message)

    producer = asyncio.create_task(produce())
    last: dict[str, int] = {}
    inversions = 0
    for _ in range(total):
        channel, echo = await layer.receive([prefix], timeout=60)
        assert channel is not None and echo is not None, "echoes stopped coming"
        if echo["n"] < last.get(channel, -1):
            inversions += 1
        last[channel] = max(echo["n"], last.get(channel, -1))
    seconds = time.perf_counter() - started
    await producer
    await layer.close()
    return total / seconds, inversions


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    add_report_arguments(parser, quick="1 round of 40 messages per connection")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.messages = 1, 40
    return args


def main() -> None:
    args = parse_args()
    with ExitStack() as stack:
        redis = stack.enter_context(start_redis(free_port()))
        url = redis.url + "?capacity=1000000"
        for _ in range(args.workers):
            worker = GatewaysProcess(
                ["worker", "ordering_app:routes", "--layer", url], env={"PYTHONPATH": str(HERE)}
            )
            stack.callback(worker.stop)
        runs, inversions = measure(url, args)
    report(runs, args)
    if args.json:
        write_json(args.json, payload(runs, inversions, args))


def measure(
    url: str, args: argparse.Namespace
) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    """Both paths in turn, ``args.rounds`` times: messages/s and inversions per run."""
    runs: dict[str, list[float]] = {"unordered": [], "ordered": []}
    inversions: dict[str, list[int]] = {name: [] for name in runs}
    for round_ in range(1, args.rounds + 1):
        for name in runs:
            rate, seen = asyncio.run(
                one_run(url, args.connections, args.messages, name == "ordered")
            )
            runs[name].append(rate)
            inversions[name].append(seen)
            print(f"round {round_}  {name:<10} {rate:10,.0f} msg/s  inversions {seen}")
    return runs, inversions


def report(runs: dict[str, list[float]], args: argparse.Namespace) -> None:
    medians = {name: statistics.median(rates) for name, rates in runs.items()}
    print(
        f"\nmedian messages/s ({args.connections} connections x {args.messages}, "
        f"{args.workers} workers over Redis):"
    )
    for name, rates in runs.items():
        shown = " / ".join(f"{r:,.0f}" for r in rates)
        print(f"  {name:<10} {medians[name]:10,.0f}   ({shown})")
    print(f"  ordered / unordered: {medians['ordered'] / medians['unordered']:.2f}x")


def payload(
    runs: dict[str, list[float]], inversions: dict[str, list[int]], args: argparse.Namespace
) -> dict[str, Any]:
    results = [
        result_row("gateways", name, runs=rates, inversions=inversions[name])
        for name, rates in runs.items()
    ]
    medians = {row["case"]: row["value"] for row in results}
    return {
        "bench": "ordering",
        "title": "Message groups: ordered against unordered, two workers over Redis",
        "unit": "msg/s",
        "higher_is_better": True,
        "results": results,
        "ratios": [
            ratio_row(
                "ordered / unordered",
                "message groups",
                medians["ordered"],
                medians["unordered"],
                target=TARGET,
            )
        ],
        "notes": (
            f"{args.connections} connections x {args.messages} messages, {args.workers} "
            f"`gateways worker` processes, {args.rounds} round(s) alternating the paths. "
            f"Inversions seen on the ordered path: {sum(inversions['ordered'])} (must be 0)."
        ),
    }


if __name__ == "__main__":
    main()
