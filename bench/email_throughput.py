"""Email benchmark: SMTP mails per second accepted and consumed by gateways, against a
bare aiosmtpd server with a do-nothing handler (the ceiling), in the same run.

    .venv/bin/python bench/email_throughput.py [--messages 3000] [--connections 16]
        [--rounds 3] [--redis] [--quick] [--json FILE]

gateways runs ``serve --plugin email`` on the memory layer with its embedded worker; a
mail counts as consumed once the consumer ran. Every contender answers 250 only once the
mail is on its layer. Contenders:

- ``aiosmtpd (bare)``: ``bench/email_bare.py``, the ceiling;
- ``gateways``: the access log silenced (``bench/email_log.json``), as the bare server
  logs nothing per mail (and as the HTTP benchmarks run without access logs);
- ``gateways, access log``: the default logging, one access line per mail;
- ``gateways, redis`` (``--redis``): the layer on a redis-server, the worker a process
  of its own (``gateways worker``).

All are driven by the same minimal asyncio SMTP client (several mails per connection,
as MTAs do), in this process; rounds alternate between the contenders and the median
round is reported, with the CPU time each server process spent per mail (a figure that
stays readable on a busy machine, where the rates do not).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.anchors.launch import free_port, start_redis  # noqa: E402
from bench.loadgen import cpu_seconds  # noqa: E402
from bench.report_json import ratio_row, result_row, write_json  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402

TARGET = 0.8
BARE = "aiosmtpd (bare)"
GATEWAYS = "gateways"
QUIET_LOG = str(ROOT / "bench" / "email_log.json")

MESSAGE = (
    b"From: Bench <bench@remote.test>\r\n"
    b"To: inbox@example.com\r\n"
    b"Subject: =?utf-8?q?benchmark_caf=C3=A9?=\r\n"
    b"Message-ID: <%d@remote.test>\r\n"
    b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n" + b"Hello from the benchmark, a line of text.\r\n" * 8
)


# -- the client ---------------------------------------------------------------------------


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


# -- the contenders -----------------------------------------------------------------------


@dataclass
class Round:
    accepted_s: float  # until the last 250
    consumed_s: float  # until the consumer saw the last mail
    cpu_s: dict[str, float]  # CPU seconds per process of the contender


@dataclass
class Contender:
    """A server under test: where it listens, whose CPU counts, who reports consumption."""

    stack: str
    port: int
    pids: dict[str, int]
    consumer: GatewaysProcess | None = None  # logs "consumed N"; None: nothing to wait for
    consumed: int = 0
    rounds: list[Round] = field(default_factory=list)

    def run(self, messages: int, connections: int) -> Round:
        before = {name: cpu_seconds([pid]) for name, pid in self.pids.items()}
        started = time.perf_counter()
        accepted = asyncio.run(blast(self.port, messages, connections))
        self.wait_consumed(messages)
        consumed = time.perf_counter() - started
        cpu = {name: cpu_seconds([pid]) - before[name] for name, pid in self.pids.items()}
        return Round(accepted, consumed, cpu)

    def wait_consumed(self, messages: int) -> None:
        if self.consumer is not None:
            self.consumed += messages
            start = max(0, len(self.consumer.lines) - 50)
            self.consumer.wait_for(rf"consumed {self.consumed}\b", timeout=120, start=start)


def start_bare(stack: ExitStack) -> Contender:
    bare = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "email_bare.py")], stdout=subprocess.PIPE, text=True
    )
    stack.callback(bare.wait)
    stack.callback(bare.terminate)
    assert bare.stdout is not None
    port = int(bare.stdout.readline().rsplit(":", 1)[1])
    return Contender(BARE, port, {"server": bare.pid})


def gateways(stack: ExitStack, args: list[str], every: int) -> GatewaysProcess:
    process = GatewaysProcess(args, env={"BENCH_EMAIL_EVERY": str(every)}, cwd=str(ROOT))
    stack.callback(process.stop)
    return process


def serve_args(*extra: str) -> list[str]:
    return [
        "serve", "--plugin", "email", "--smtp-port", "0", "--smtp-domain", "example.com",
        "--smtp-hostname", "mx.bench.test", *extra,
    ]  # fmt: skip


def start_embedded(stack: ExitStack, name: str, every: int, *extra: str) -> Contender:
    process = gateways(stack, serve_args("bench.email_bench_app:routes", *extra), every)
    return Contender(name, process.address("smtp")[1], {"server": process.proc.pid}, process)


def start_over_redis(stack: ExitStack, every: int) -> Contender:
    """Interface and worker apart, on one redis-server (its CPU counted too). The
    worker may fall behind the interface: ``email.receive`` holds a round's backlog
    rather than answer 451 (the default capacity is 100)."""
    redis = stack.enter_context(start_redis(free_port()))
    url = f"{redis.url}?channel_capacity=email.receive:{max(every, 100)}"
    layer = ["--layer", url, "--log-config", QUIET_LOG]
    interface = gateways(stack, serve_args(*layer), every)
    worker = gateways(stack, ["worker", "bench.email_bench_app:routes", *layer], every)
    pids = {"server": interface.proc.pid, "worker": worker.proc.pid, **redis.pids}
    return Contender(f"{GATEWAYS}, redis", interface.address("smtp")[1], pids, worker)


def start_all(stack: ExitStack, args: argparse.Namespace) -> list[Contender]:
    every = args.messages
    contenders = [
        start_bare(stack),
        start_embedded(stack, GATEWAYS, every, "--log-config", QUIET_LOG),
        start_embedded(stack, f"{GATEWAYS}, access log", every),
    ]
    if args.redis:
        contenders.append(start_over_redis(stack, every))
    return contenders


# -- measuring and reporting --------------------------------------------------------------


def measure(contenders: list[Contender], args: argparse.Namespace) -> None:
    """A warm-up round each, then ``args.rounds`` rounds, the contenders in turn."""
    for contender in contenders:
        contender.run(args.messages, args.connections)
    for index in range(args.rounds):
        for contender in contenders:
            done = contender.run(args.messages, args.connections)
            contender.rounds.append(done)
            cpu = 1e6 * sum(done.cpu_s.values()) / args.messages
            print(
                f"round {index + 1}  {contender.stack:<22} "
                f"{args.messages / done.consumed_s:>7,.0f} msg/s consumed "
                f"({args.messages / done.accepted_s:>7,.0f} accepted)  {cpu:>6.0f} us CPU/mail",
                flush=True,
            )


def rate(contender: Contender, messages: int, what: str = "consumed_s") -> float:
    return messages / statistics.median(getattr(r, what) for r in contender.rounds)


def cpu_per_mail(contender: Contender, messages: int) -> dict[str, float]:
    """Median CPU microseconds per mail, per process and in all."""
    names = [*contender.pids, "total"]
    per_round = [{**r.cpu_s, "total": sum(r.cpu_s.values())} for r in contender.rounds]
    return {n: 1e6 * statistics.median(r[n] for r in per_round) / messages for n in names}


def report(contenders: list[Contender], args: argparse.Namespace) -> dict[str, Any]:
    """Print the table; return the JSON payload."""
    bare = contenders[0]
    ceiling, bare_cpu = rate(bare, args.messages), cpu_per_mail(bare, args.messages)["total"]
    print(
        f"\n{args.messages} mails x {args.rounds} rounds, {args.connections} connections, "
        "median round"
    )
    for contender in contenders:
        value, cpu = rate(contender, args.messages), cpu_per_mail(contender, args.messages)
        print(
            f"  {contender.stack:<22} {value:>7,.0f} msg/s ({value / ceiling:.2f}x)  "
            f"{cpu['total']:>6.0f} us CPU/mail ({bare_cpu / cpu['total']:.2f}x)"
        )
    ratios = [r for c in contenders[1:] for r in ratios_of(c, ceiling, bare_cpu, args)]
    print(f"ratio {GATEWAYS} / {BARE}: {ratios[0]['value']:.2f}x (target >= {TARGET:.2f}x)")
    return payload(args, [row(c, args) for c in contenders], ratios)


def ratios_of(
    contender: Contender, ceiling: float, bare_cpu: float, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Its rate over the ceiling's (the issue's target for ``gateways``), and the bare
    server's CPU per mail over its own (above 1: it spends less)."""
    name = f"{contender.stack} / {BARE}"
    target = TARGET if contender.stack == GATEWAYS else None
    ours_cpu = cpu_per_mail(contender, args.messages)["total"]
    return [
        ratio_row(name, "ingest", rate(contender, args.messages), ceiling, target=target),
        ratio_row(f"{name}, CPU per mail (inverse)", "ingest", bare_cpu, ours_cpu),
    ]


def row(contender: Contender, args: argparse.Namespace) -> dict[str, Any]:
    runs = [args.messages / r.consumed_s for r in contender.rounds]
    return result_row(
        contender.stack,
        "ingest",
        runs=runs,
        accepted_msg_s=rate(contender, args.messages, "accepted_s"),
        cpu_us_per_mail=cpu_per_mail(contender, args.messages),
    )


def payload(args: argparse.Namespace, rows: list[Any], ratios: list[Any]) -> dict[str, Any]:
    return {
        "bench": "email_throughput",
        "title": "SMTP ingest: gateways email (250 once on the layer) vs bare aiosmtpd",
        "unit": "msg/s",
        "higher_is_better": True,
        "results": rows,
        "ratios": ratios,
        "notes": (
            f"{args.messages} mails x {args.rounds} rounds over {args.connections} "
            "connections, contenders in turn, median round. Rate: until the consumer saw "
            "the last mail (bare: the last 250). cpu_us_per_mail: CPU time of the server "
            "processes per mail (redis variant: interface, worker and redis-server)."
        ),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000, help="mails per round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis", action="store_true", help="add the over-Redis contender")
    parser.add_argument("--quick", action="store_true", help="one round of 800 mails")
    parser.add_argument("--json", metavar="FILE", help="write the results there (one object)")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.rounds = 800, 1
    args.messages -= args.messages % args.connections
    return args


def main() -> None:
    args = parse_args()
    with ExitStack() as stack:
        contenders = start_all(stack, args)
        measure(contenders, args)
    document = report(contenders, args)
    if args.json:
        write_json(args.json, document)


if __name__ == "__main__":
    main()
