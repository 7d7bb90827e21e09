"""The floor under send+receive: how fast can one event loop ping-pong messages through
Redis at all, and how close to it the layer gets.

    .venv/bin/python bench/resp_floor.py [--messages 20000] [--rounds 3]

The workload of ``redis_layer.py``'s send+receive (one producer awaiting each send, one
consumer receiving one by one, one loop), run by two contenders on one redis-server, on
the standard asyncio loop and on uvloop:

- **bare protocol**: the least a client can do per message: an asyncio protocol parsing
  replies with hiredis, the commands of one loop turn in one write, ``RPUSH`` of a
  msgpack body awaited by the producer, ``LPOP`` looked at again by the consumer until it
  finds the message (no names, expiry, capacity, blocking or errors);
- **gateways**: ``RedisChannelLayer.send`` and ``receive``.

Prints messages/s and the client's CPU time per message for each, and gateways as a
fraction of the floor. Not part of ``python -m bench``: it explains a figure of the
report (send+receive against channels_redis) rather than comparing with an anchor.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import hiredis
import msgpack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.anchors.launch import free_port, start_redis  # noqa: E402
from bench.redis_layer import pipe  # noqa: E402
from gateways.layers import get_layer  # noqa: E402
from gateways.reactor import loop_factory  # noqa: E402

LOOPS = ("asyncio", "uvloop")


class BareProtocol(asyncio.Protocol):
    """Replies matched in order; a loop turn's commands leave in one write."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.out: list[bytes] = []
        self.armed = False
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            self.waiting.popleft().set_result(reply)

    def call(self, command: bytes) -> asyncio.Future[Any]:
        future = self.loop.create_future()
        self.waiting.append(future)
        self.out.append(command)
        if not self.armed:
            self.armed = True
            self.loop.call_soon(self.flush)
        return future

    def flush(self) -> None:
        self.armed = False
        self.transport.write(b"".join(self.out))
        self.out.clear()


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


Ops = tuple[Callable[..., Awaitable[Any]], Callable[[], Awaitable[Any]]]


#: The two commands, packed up to the message (a push) or whole (a pop).
PUSH = b"*3\r\n$5\r\nRPUSH\r\n$5\r\nfloor\r\n"
POP = b"*2\r\n$4\r\nLPOP\r\n$5\r\nfloor\r\n"


def bare(conn: BareProtocol) -> Ops:
    async def send(message: dict[str, Any]) -> None:
        await conn.call(PUSH + _bulk(msgpack.packb(message)))

    async def receive() -> Any:
        while (raw := await conn.call(POP)) is None:
            pass
        return msgpack.unpackb(raw)

    return send, receive


def gateways(layer: Any) -> Ops:
    async def send(message: dict[str, Any]) -> None:
        await layer.send("floor.pipe", message)

    async def receive() -> Any:
        return await layer.receive(["floor.pipe"])

    return send, receive


async def measure(ops: Ops, count: int) -> dict[str, float]:
    send, receive = ops
    await pipe(send, receive, count // 10)  # warm up
    cpu, wall = time.process_time(), time.perf_counter()
    await pipe(send, receive, count)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"rate": count / wall, "cpu_us": cpu / count * 1e6}


async def one_round(url: str, host: str, port: int, count: int) -> dict[str, dict[str, float]]:
    transport, conn = await asyncio.get_running_loop().create_connection(BareProtocol, host, port)
    layer = get_layer(url, capacity=count + 1)
    try:
        return {
            "bare protocol": await measure(bare(conn), count),
            "gateways": await measure(gateways(layer), count),
        }
    finally:
        transport.close()
        await layer.close()


def best_of(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Each contender's fastest round."""
    return {name: max((r[name] for r in rounds), key=lambda f: f["rate"]) for name in rounds[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    print(f"send+receive, {opts.messages:,} messages, best of {opts.rounds} rounds")
    with start_redis(free_port()) as server:
        host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1].split("/")[0])
        for loop in LOOPS:
            rounds = []
            for _ in range(opts.rounds):
                with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
                    rounds.append(runner.run(one_round(server.url, host, port, opts.messages)))
            best = best_of(rounds)
            for name, got in best.items():
                rate, cpu = got["rate"], got["cpu_us"]
                print(f"  {loop:8s} {name:14s} {rate:8,.0f} msg/s  {cpu:6.1f} µs CPU/msg")
            share = best["gateways"]["rate"] / best["bare protocol"]["rate"]
            print(f"  {loop:8s} gateways / bare protocol: {share:.2f}")


if __name__ == "__main__":
    main()
