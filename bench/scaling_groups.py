"""Cost of one group_send as the group grows: the child process of bench/scaling.py.

    PYTHON bench/scaling_groups.py CONTENDER REDIS_URL

CONTENDER is ``gateways`` (the project's Redis layer, run by .venv's Python),
``channels_redis`` (channels_redis 4 core layer, run by bench/.venvs/daphne4's Python) or
``raw`` (the floor: N ``RPUSH`` commands encoded beforehand, written in one go, N replies
read: what Redis itself and the loopback cost). The child reads lines ``SIZE SENDS`` on
stdin and answers each with one JSON line: ``{"seconds": [...]}`` (one per timed send)
or ``{"error": "..."}``. Each size starts from an empty database: SIZE members
(ordinary channels ``bench.member.N``, one list each, as in bench/redis_layer.py) join
the group, one untimed send warms up (gateways' first send tops up every member's TTL),
then SENDS sends are timed one by one. Standard library at the top: the layer's package
is imported by the contender that needs it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

MESSAGE = {"type": "bench.message", "text": "hello world", "n": 0}
GROUP = "bench-group"
JOIN_AT_ONCE = 50  # channels_redis's pool holds 100 connections

Sender = Callable[[int], Awaitable[None]]


async def gateways_size(url: str, size: int, sends: int) -> list[float]:
    from gateways.layers import get_layer

    layer = get_layer(url, channel_capacity={"bench.member.*": sends + 10})
    return await _group_timings(layer, size, sends, layer.close)


async def channels_redis_size(url: str, size: int, sends: int) -> list[float]:
    from channels_redis.core import RedisChannelLayer

    hosts = [{"address": url, "socket_timeout": None}]
    layer = RedisChannelLayer(hosts=hosts, capacity=sends + 10)
    return await _group_timings(layer, size, sends, layer.close_pools)


async def _group_timings(
    layer: Any, size: int, sends: int, close: Callable[[], Awaitable[Any]]
) -> list[float]:
    """The seconds of each of ``sends`` group_sends to ``size`` members, on an emptied
    layer (gateways' or channels_redis': the same calls), emptied and closed after."""
    try:
        await layer.flush()
        await _join(lambda i: layer.group_add(GROUP, f"bench.member.{i}"), size)
        return await _time(lambda n: layer.group_send(GROUP, {**MESSAGE, "n": n}), sends)
    finally:
        await layer.flush()
        await close()


async def raw_size(url: str, size: int, sends: int) -> list[float]:
    """N RPUSH of a packed message, pre-encoded, one write, N replies read."""
    parsed = urlparse(url)
    reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port or 6379)
    database = (parsed.path or "/0").lstrip("/") or "0"
    import msgpack

    value = msgpack.packb(MESSAGE)
    pushes = b"".join(_command(b"RPUSH", b"raw.member.%d" % i, value) for i in range(size))

    async def push(_n: int) -> None:
        writer.write(pushes)
        await _replies(reader, size)

    try:
        writer.write(_command(b"SELECT", database.encode()) + _command(b"FLUSHDB"))
        await _replies(reader, 2)
        return await _time(push, sends)
    finally:
        writer.write(_command(b"FLUSHDB"))
        await _replies(reader, 1)
        writer.close()


def _command(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


async def _replies(reader: asyncio.StreamReader, count: int) -> None:
    """Read ``count`` one-line replies (``:N``, ``+OK``); an error reply raises."""
    for _ in range(count):
        line = await reader.readline()
        if not line or line.startswith(b"-"):
            raise RuntimeError(f"redis answered {line!r}")


async def _join(add: Callable[[int], Awaitable[None]], size: int) -> None:
    for start in range(0, size, JOIN_AT_ONCE):
        await asyncio.gather(*(add(i) for i in range(start, min(size, start + JOIN_AT_ONCE))))


async def _time(send: Sender, sends: int) -> list[float]:
    await send(-1)  # warm-up, not timed
    seconds = []
    for n in range(sends):
        started = time.perf_counter()
        await send(n)
        seconds.append(time.perf_counter() - started)
    return seconds


CONTENDERS = {"gateways": gateways_size, "channels_redis": channels_redis_size, "raw": raw_size}


async def serve(contender: str, url: str) -> None:
    """Answer ``SIZE SENDS`` lines from stdin until it closes."""
    measure = CONTENDERS[contender]
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        size, sends = (int(x) for x in line.split())
        answer: dict[str, Any]
        try:
            answer = {"seconds": await measure(url, size, sends)}
        except Exception as exc:  # a failed point is a result, not a crash
            answer = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
