"""The cost of message groups: the same messages through two workers over Redis, once
numbered (``__seq__``: one at a time and in order per connection, across workers) and
once not (today's unordered path), alternating in one run.

    .venv/bin/python bench/ordering.py [--connections 50] [--messages 200] [--rounds 3]

Like an interface process, the driver sends ``messages`` per connection for
``connections`` connections (each its own reply channel under one process prefix) to
``bench.ordered``, as fast as the layer takes them, and receives the echoes of
``gateways worker ordering_app:routes`` (two processes) on its prefix. It reports
messages per second (first send to last echo) for both paths, their ratio, and the
inversions seen (per connection, an echo whose number is below one already seen): the
ordered path must show none.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.anchors.launch import free_port, start_redis  # noqa: E402
from gateways.layers import get_layer  # noqa: E402
from gateways.layers.ordering import SEQ_KEY  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402


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
        assert channel is not None, "echoes stopped coming"
        if echo["n"] < last.get(channel, -1):
            inversions += 1
        last[channel] = max(echo["n"], last.get(channel, -1))
    seconds = time.perf_counter() - started
    await producer
    await layer.close()
    return total / seconds, inversions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with ExitStack() as stack:
        redis = stack.enter_context(start_redis(free_port()))
        url = redis.url + "?capacity=1000000"
        for _ in range(args.workers):
            worker = GatewaysProcess(
                ["worker", "ordering_app:routes", "--layer", url], env={"PYTHONPATH": str(HERE)}
            )
            stack.callback(worker.stop)
        runs: dict[str, list[float]] = {"unordered": [], "ordered": []}
        for round_ in range(1, args.rounds + 1):
            for name in runs:
                rate, inversions = asyncio.run(
                    one_run(url, args.connections, args.messages, name == "ordered")
                )
                runs[name].append(rate)
                print(f"round {round_}  {name:<10} {rate:10,.0f} msg/s  inversions {inversions}")
        medians = {name: statistics.median(rates) for name, rates in runs.items()}
        print(
            f"\nmedian messages/s ({args.connections} connections x {args.messages}, "
            f"{args.workers} workers over Redis):"
        )
        for name, rates in runs.items():
            shown = " / ".join(f"{r:,.0f}" for r in rates)
            print(f"  {name:<10} {medians[name]:10,.0f}   ({shown})")
        print(f"  ordered / unordered: {medians['ordered'] / medians['unordered']:.2f}x")


if __name__ == "__main__":
    main()
