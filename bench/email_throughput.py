"""Email benchmark: SMTP messages per second accepted and consumed by gateways, against a
bare aiosmtpd server with a do-nothing handler (the ceiling), in the same run.

    .venv/bin/python bench/email_throughput.py [--messages 3000] [--connections 16] [--rounds 3]

gateways runs ``serve --plugin email`` on the memory layer with its embedded worker; a
message counts as consumed once the consumer ran. Both servers are driven by the same
minimal asyncio SMTP client (several messages per connection, as MTAs do), in this
process; rounds alternate between the two servers and the median is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateways.testing import GatewaysProcess  # noqa: E402

MESSAGE = (
    b"From: Bench <bench@remote.test>\r\n"
    b"To: inbox@example.com\r\n"
    b"Subject: =?utf-8?q?benchmark_caf=C3=A9?=\r\n"
    b"Message-ID: <%d@remote.test>\r\n"
    b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n" + b"Hello from the benchmark, a line of text.\r\n" * 8
)


async def reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if line[3:4] != b"-":
            if not line.startswith((b"2", b"3")):
                raise RuntimeError(f"server answered {line!r}")
            return line


async def session(port: int, count: int, start: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reply(reader)
    writer.write(b"EHLO bench.test\r\n")
    await reply(reader)
    for number in range(start, start + count):
        for command in (
            b"MAIL FROM:<bench@remote.test>\r\n",
            b"RCPT TO:<inbox@example.com>\r\n",
            b"DATA\r\n",
        ):
            writer.write(command)
            await reply(reader)
        writer.write(MESSAGE % number + b".\r\n")
        await reply(reader)
    writer.write(b"QUIT\r\n")
    await reply(reader)
    writer.close()


async def blast(port: int, messages: int, connections: int) -> float:
    """Send ``messages`` over ``connections`` sessions; seconds until the last 250."""
    share = messages // connections
    started = time.perf_counter()
    await asyncio.gather(*(session(port, share, i * share) for i in range(connections)))
    return time.perf_counter() - started


def run_gateways(
    process: GatewaysProcess, port: int, args: argparse.Namespace, done: int
) -> tuple[float, float]:
    """(accepted, consumed) seconds for one round against gateways."""
    started = time.perf_counter()
    accepted = asyncio.run(blast(port, args.messages, args.connections))
    process.wait_for(rf"consumed {done}\b", timeout=120, start=max(0, len(process.lines) - 50))
    return accepted, time.perf_counter() - started


def start_bare() -> tuple[subprocess.Popen[str], int]:
    bare = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "email_bare.py")], stdout=subprocess.PIPE, text=True
    )
    assert bare.stdout is not None
    line = bare.stdout.readline()
    return bare, int(line.rsplit(":", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.messages -= args.messages % args.connections
    gateways = GatewaysProcess(
        [
            "serve",
            "--plugin",
            "email",
            "bench.email_bench_app:routes",
            "--smtp-port",
            "0",
            "--smtp-domain",
            "example.com",
            "--smtp-hostname",
            "mx.bench.test",
        ],
        env={"BENCH_EMAIL_EVERY": str(args.messages)},
        cwd=str(ROOT),
    )
    bare, bare_port = start_bare()
    _, gw_port = gateways.address("smtp")
    try:
        asyncio.run(blast(bare_port, 160, 16))  # warm-up for both
        asyncio.run(blast(gw_port, args.messages, args.connections))
        gateways.wait_for(rf"consumed {args.messages}\b", timeout=120)
        ceiling, accepted, consumed = [], [], []
        for round_ in range(args.rounds):
            ceiling.append(asyncio.run(blast(bare_port, args.messages, args.connections)))
            a, c = run_gateways(gateways, gw_port, args, args.messages * (round_ + 2))
            accepted.append(a)
            consumed.append(c)
    finally:
        gateways.stop()
        bare.terminate()
        bare.wait()
    report(args, ceiling, accepted, consumed)


def report(
    args: argparse.Namespace, ceiling: list[float], accepted: list[float], consumed: list[float]
) -> None:
    rate = {
        name: args.messages / statistics.median(times)
        for name, times in (("bare", ceiling), ("accepted", accepted), ("consumed", consumed))
    }
    print(
        f"{args.messages} messages x {args.rounds} rounds, {args.connections} connections, "
        "median round"
    )
    print(f"  bare aiosmtpd, do-nothing handler : {rate['bare']:8.0f} msg/s")
    print(
        f"  gateways email, accepted (250)     : {rate['accepted']:8.0f} msg/s "
        f"({rate['accepted'] / rate['bare']:.2f}x)"
    )
    print(
        f"  gateways email, consumed           : {rate['consumed']:8.0f} msg/s "
        f"({rate['consumed'] / rate['bare']:.2f}x)"
    )
    print(f"ratio consumed/bare: {rate['consumed'] / rate['bare']:.2f}x (target >= 0.70x)")


if __name__ == "__main__":
    main()
