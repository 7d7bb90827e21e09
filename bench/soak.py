"""Soak: many short HTTP requests and WebSocket sessions over Redis, watching for leaks.

    .venv/bin/python bench/soak.py [--http 50000] [--ws 5000] [--steps 10]

Starts redis-server (a free port, from bench/anchors/launch.py), ``gateways serve
--plugin http --plugin websocket`` on it and one ``gateways worker`` running
``soak_app.py``; warms up, takes a baseline, then drives ``--http`` GETs (keep-alive
connections of 100 requests) and ``--ws`` WebSocket connect/send/receive/close cycles in
``--steps`` steps, printing after each the RSS of every process and Redis's key counts
(DBSIZE, and per key kind: ``gateways:c`` lists, ``gateways:g`` groups, ...). Then it
waits up to ``--settle`` seconds for the keys to return to the baseline (messages and
reply channels expire after the layer's ``expiry``, 60 s by default).

Exits 1 when a request failed, when a process ends more than ``--rss-slack`` (10 %)
above its baseline RSS, or when a key kind is still above its baseline count after the
settle time. A script, not a test: it runs for minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import redis  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from bench.anchors.launch import free_port, start_redis  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402

PER_CONNECTION = 100
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--http", type=int, default=50_000, help="HTTP requests [50000]")
    cli.add_argument("--ws", type=int, default=5_000, help="WebSocket cycles [5000]")
    cli.add_argument("--steps", type=int, default=10, help="reports during the load [10]")
    cli.add_argument("--clients", type=int, default=20, help="concurrent clients of each kind")
    cli.add_argument("--settle", type=float, default=120.0, help="seconds for keys to expire")
    cli.add_argument("--rss-slack", type=float, default=0.10, help="allowed RSS growth [0.10]")
    return cli


# -- what is measured -----------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def key_counts(client: redis.Redis) -> Counter[str]:
    """Keys per kind (``gateways:c``, ``gateways:g``...), and ``DBSIZE``."""
    kinds: Counter[str] = Counter()
    for key in client.scan_iter(count=1000):
        kinds[":".join(key.decode(errors="replace").split(":")[:2])] += 1
    kinds["DBSIZE"] = int(client.dbsize())
    return kinds


def snapshot(label: str, pids: dict[str, int], client: redis.Redis) -> dict[str, object]:
    rss = {name: rss_mib(pid) for name, pid in pids.items()}
    keys = key_counts(client)
    shown = "  ".join(f"{name} {mib:6.1f}" for name, mib in rss.items())
    kinds = " ".join(f"{kind}={count}" for kind, count in sorted(keys.items()))
    print(f"{label:<22} RSS MiB: {shown}   keys: {kinds}", flush=True)
    return {"rss": rss, "keys": keys}


# -- the load -------------------------------------------------------------------------------


async def http_client(host: str, port: int, count: int, failures: Counter[str]) -> None:
    request = f"GET /soak HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    while count > 0:
        reader, writer = await asyncio.open_connection(host, port)
        for _ in range(min(PER_CONNECTION, count)):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            found = _LENGTH.search(head)
            body = await reader.readexactly(int(found[1]) if found else 0)
            if not head.startswith(b"HTTP/1.1 200") or body != b"hello":
                failures[f"http {head.split(b' ', 2)[1].decode()}"] += 1
            count -= 1
        writer.close()
        await writer.wait_closed()


async def ws_client(url: str, count: int, failures: Counter[str]) -> None:
    for n in range(count):
        try:
            async with connect(url, open_timeout=10) as ws:
                await ws.send(f"soak {n}")
                if await asyncio.wait_for(ws.recv(), 10) != f"soak {n}":
                    failures["ws wrong echo"] += 1
        except Exception as exc:  # counted, the soak goes on
            failures[f"ws {type(exc).__name__}"] += 1


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def drive(host: str, port: int, http: int, ws: int, clients: int) -> Counter[str]:
    failures: Counter[str] = Counter()
    url = f"ws://{host}:{port}/soak"
    await asyncio.gather(
        *(http_client(host, port, n, failures) for n in split(http, clients) if n),
        *(ws_client(url, n, failures) for n in split(ws, clients) if n),
    )
    return failures


# -- the run --------------------------------------------------------------------------------


def start(stack: ExitStack, layer: str) -> tuple[GatewaysProcess, GatewaysProcess]:
    env = {"PYTHONPATH": str(HERE)}
    serve = GatewaysProcess(
        ["serve", "--plugin", "http", "--plugin", "websocket", "--http-port", "0",
         "--layer", layer],
        env=env,
    )  # fmt: skip
    stack.callback(serve.close)
    worker = GatewaysProcess(["worker", "soak_app:routes", "--layer", layer], env=env)
    stack.callback(worker.close)
    return serve, worker


def verdict(base: dict[str, object], end: dict[str, object], slack: float) -> list[str]:
    problems = []
    for name, before in base["rss"].items():  # type: ignore[attr-defined]
        after = end["rss"][name]  # type: ignore[index]
        if after > before * (1 + slack):
            problems.append(f"{name}: RSS {before:.1f} -> {after:.1f} MiB (> +{slack:.0%})")
    for kind, count in end["keys"].items():  # type: ignore[attr-defined]
        if count > base["keys"].get(kind, 0):  # type: ignore[attr-defined]
            problems.append(f"keys {kind}: {base['keys'].get(kind, 0)} -> {count}")  # type: ignore[attr-defined]
    return problems


def settle(base: dict[str, object], pids: dict[str, int], client: redis.Redis,
           seconds: float) -> dict[str, object]:  # fmt: skip
    """Snapshots every 10 s until every key kind is back at its baseline, or time is up."""
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    while True:
        time.sleep(10)  # the layer's expiry is what is waited for
        label = f"settle +{time.monotonic() - started:.0f}s"
        now = snapshot(label, pids, client)
        back = all(c <= base["keys"].get(k, 0) for k, c in now["keys"].items())  # type: ignore[attr-defined]
        if back or time.monotonic() > deadline:
            return now


def main() -> int:
    args = parser().parse_args()
    with ExitStack() as stack:
        redis_server = stack.enter_context(start_redis(free_port()))
        serve, worker = start(stack, redis_server.url)
        host, port = serve.address("http")
        client = redis.Redis.from_url(redis_server.url)
        pids = {"serve": serve.proc.pid, "worker": worker.proc.pid}
        pids["redis"] = next(iter(redis_server.pids.values()))
        # Warm-up at one step's load: buffers, caches and pools reach their working size.
        asyncio.run(drive(host, port, args.http // args.steps, args.ws // args.steps, args.clients))
        base = snapshot("baseline", pids, client)
        failures: Counter[str] = Counter()
        started = time.monotonic()
        steps = zip(split(args.http, args.steps), split(args.ws, args.steps), strict=True)
        for step, (http, ws) in enumerate(steps, 1):
            failures += asyncio.run(drive(host, port, http, ws, args.clients))
            snapshot(f"step {step}/{args.steps} {time.monotonic() - started:.0f}s", pids, client)
        end = settle(base, pids, client, args.settle)
        problems = [f"{count} failed: {what}" for what, count in failures.items()]
        problems += verdict(base, end, args.rss_slack)
        for line in serve.lines + worker.lines:
            if "Traceback" in line or " ERROR " in line:
                problems.append(f"logged: {line}")
    print("\n".join(problems) if problems else "soak: OK", flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
