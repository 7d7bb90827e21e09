"""Redis channel layer throughput, side by side with channels_redis 4 and raw redis-py.

    .venv/bin/python bench/redis_layer.py [--messages 20000] [--groups 30] [--rounds 3]

One redis-server (from bench/anchors/launch.py) serves every contender in turn; each
contender runs in a subprocess of its own (channels_redis from bench/.venvs/daphne4):

- **send+receive**: one producer task sends N small messages to one channel while one
  consumer task receives them, on one event loop; messages/s over the whole transfer.
  Anchors: channels_redis 4 ``RedisChannelLayer`` (``socket_timeout`` disabled) and a raw
  redis-py LPUSH/BLPOP loop with msgpack (the ceiling: no expiry, capacity or naming).
- **receive of already-queued messages**: N sent first, then the time to receive them
  all (a busy worker's situation: messages are waiting).
- **group_send to 1,000 members**: the time of one ``group_send`` (members are ordinary
  channels, so both layers store one key per member), averaged over several sends.

Each contender runs ``--rounds`` times and the best round counts (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OURS = ROOT / ".venv" / "bin" / "python"
DAPHNE4 = HERE / ".venvs" / "daphne4" / "bin" / "python"
MESSAGE = {"type": "bench.message", "text": "hello world", "n": 0}


# -- contenders (run inside the subprocess) ---------------------------------------------


async def pipe(layer_send, layer_receive, count: int) -> float:
    async def produce() -> None:
        for i in range(count):
            await layer_send({**MESSAGE, "n": i})

    started = time.perf_counter()
    producer = asyncio.ensure_future(produce())
    for _ in range(count):
        await layer_receive()
    await producer
    return count / (time.perf_counter() - started)


async def drain(layer_send, layer_receive, count: int) -> float:
    """Receive messages that are already queued (a busy worker's situation)."""
    for i in range(count):
        await layer_send({**MESSAGE, "n": i})
    started = time.perf_counter()
    for _ in range(count):
        await layer_receive()
    return count / (time.perf_counter() - started)


async def gateways_layer(url: str, count: int, groups: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from gateways.layers import get_layer

    layer = get_layer(url, capacity=count + 1, channel_capacity={"bench.member.*": groups + 1})
    await layer.flush()
    send, receive = (lambda m: layer.send("bench.pipe", m)), (lambda: layer.receive(["bench.pipe"]))
    rate = await pipe(send, receive, count)
    ready = await drain(send, receive, count)
    group = await group_send_seconds(layer, groups)
    await layer.flush()
    await layer.close()
    return {"send_receive": rate, "receive_ready": ready, "group_send": group}


async def channels_redis_layer(url: str, count: int, groups: int) -> dict[str, float]:
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(hosts=[{"address": url, "socket_timeout": None}], capacity=count + 1)
    await layer.flush()
    send, receive = (lambda m: layer.send("bench.pipe", m)), (lambda: layer.receive("bench.pipe"))
    rate = await pipe(send, receive, count)
    ready = await drain(send, receive, count)
    group = await group_send_seconds(layer, groups)
    await layer.flush()
    await layer.close_pools()
    return {"send_receive": rate, "receive_ready": ready, "group_send": group}


async def group_send_seconds(layer, sends: int) -> float:
    for i in range(1000):
        await layer.group_add("bench-group", f"bench.member.{i}")
    started = time.perf_counter()
    for n in range(sends):
        await layer.group_send("bench-group", {**MESSAGE, "n": n})
    return (time.perf_counter() - started) / sends


async def raw_redis(url: str, count: int, groups: int) -> dict[str, float]:
    import msgpack
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, socket_timeout=None)
    await client.delete("bench.raw")
    send = lambda m: client.lpush("bench.raw", msgpack.packb(m))  # noqa: E731
    rate = await pipe(send, lambda: _blpop(client, msgpack), count)
    ready = await drain(send, lambda: _blpop(client, msgpack), count)
    await client.aclose()
    return {"send_receive": rate, "receive_ready": ready}


async def _blpop(client, msgpack) -> dict:
    _, data = await client.blpop(["bench.raw"], 0)
    return msgpack.unpackb(data)


CONTENDERS = {
    "gateways": (OURS, gateways_layer),
    "channels_redis 4": (DAPHNE4, channels_redis_layer),
    "redis-py LPUSH/BLPOP": (OURS, raw_redis),
}


# -- driver -----------------------------------------------------------------------------


def run_contender(name: str, url: str, count: int, groups: int) -> dict[str, float]:
    python = CONTENDERS[name][0]
    args = [str(python), __file__, "--child", name, url, str(count), str(groups)]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--groups", type=int, default=30, help="group_sends timed")
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.anchors.launch import free_port, start_redis

    best: dict[str, dict[str, float]] = {}
    with start_redis(free_port()) as server:
        for _ in range(opts.rounds):
            for name in CONTENDERS:
                got = run_contender(name, server.url, opts.messages, opts.groups)
                mine = best.setdefault(name, {})
                for key in ("send_receive", "receive_ready"):
                    mine[key] = max(mine.get(key, 0), got[key])
                if "group_send" in got:
                    mine["group_send"] = min(mine.get("group_send", 1e9), got["group_send"])
    report(best, opts)


def report(best: dict[str, dict[str, float]], opts: argparse.Namespace) -> None:
    ours = best["gateways"]
    print(f"send+receive, {opts.messages} messages, best of {opts.rounds} (messages/s):")
    for name, figures in best.items():
        ratio = ours["send_receive"] / figures["send_receive"]
        print(f"  {name:<22} {figures['send_receive']:>9.0f}   gateways x{ratio:.2f}")
    print(f"receive of {opts.messages} already-queued messages (messages/s):")
    for name, figures in best.items():
        ratio = ours["receive_ready"] / figures["receive_ready"]
        print(f"  {name:<22} {figures['receive_ready']:>9.0f}   gateways x{ratio:.2f}")
    print(f"group_send to 1,000 members, mean of {opts.groups}, best of {opts.rounds} (ms):")
    for name, figures in best.items():
        if "group_send" in figures:
            ratio = figures["group_send"] / ours["group_send"]
            print(f"  {name:<22} {figures['group_send'] * 1000:>9.2f}   gateways x{ratio:.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        name, url, count, groups = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        result = asyncio.run(CONTENDERS[name][1](url, count, groups))
        print(json.dumps(result))
    else:
        main()
