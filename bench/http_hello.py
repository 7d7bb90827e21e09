"""HTTP benchmark: requests per second for a hello route, gateways against uvicorn (its
default install: uvloop + httptools, and on the plain asyncio loop) and Daphne 4 serving a
bare ASGI hello app, in the same run.

    .venv/bin/python bench/http_hello.py [--rounds 5] [--duration 5] [--connections 50]
                                         [--quick] [--json FILE] [--only NAME ...]

gateways runs ``serve --plugin http`` on the embedded default (memory layer, one
in-process worker) with the route below; every request goes through the channel layer
and the worker, as in any deployment. It runs on each event loop ``--gateways-loop``
names (default: both; ``gateways`` is its default loop, uvloop, and ``gateways-asyncio``
the standard library's), as uvicorn does (``uvicorn``: its default install, uvloop and
httptools; ``uvicorn-asyncio``: on the asyncio loop). Daphne 4 and uvicorn come from
the anchors (``bench/anchors/launch.py``; ``bash bench/anchors/setup.sh`` builds their
venvs). Every server stays up; each round runs ``wrk --latency`` (Debian package ``wrk``)
against each of them in turn. Reported: the median per server, the ratios (target:
gateways >= 0.7x uvicorn), and each server's CPU time per request (user + system time
of the server process over a run, divided by the requests answered: less sensitive than
req/s to other load on the machine).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.anchors.launch import free_port, start_daphne4, start_uvicorn  # noqa: E402
from bench.loadgen import WrkRun, cpu_seconds  # noqa: E402
from bench.loadgen import wrk as wrk_run  # noqa: E402
from bench.report_json import ratio_row, result_row, write_json  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402

TEXT = [[b"content-type", b"text/plain"]]
#: The issue's target for gateways (embedded) against uvicorn's default install.
TARGET = 0.7
ANCHORS = ("uvicorn", "uvicorn-asyncio", "daphne4")
LOOPS = ("uvloop", "asyncio")


async def hello(message: Any) -> None:
    await message.reply({"status": 200, "headers": TEXT, "content": b"hello"})


def _routes() -> list[Any]:
    from gateways import route

    return [route("http.request", hello)]


routes = _routes() if __name__ != "__main__" else []


def start_gateways(port: int, extra: list[str]) -> GatewaysProcess:
    return GatewaysProcess(
        ["serve", "http_hello:routes", "--plugin", "http", "--http-port", str(port),
         *extra],
        env={"PYTHONPATH": str(Path(__file__).resolve().parent)},
    )  # fmt: skip


def wrk(url: str, duration: int, connections: int, threads: int) -> float:
    """Requests per second of one wrk run (errors are printed)."""
    return _checked(url, wrk_run(url, connections, duration, threads)).rate


def _checked(url: str, run: WrkRun) -> WrkRun:
    if run.errors:
        print(f"    ! {url}: {run.errors}", file=sys.stderr)
    if not run.rate:
        raise SystemExit(f"wrk printed no rate:\n{run.output}")
    return run


def wrk_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every wrk benchmark takes; refuses to start without wrk."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gateways-arg", action="append", default=[], help="extra serve flags")
    parser.add_argument("--quick", action="store_true", help="one round of 2 s")
    parser.add_argument("--json", metavar="FILE", help="write the results there (one object)")
    return parser


def quick(args: argparse.Namespace) -> argparse.Namespace:
    """``--quick``: one short round, enough to see that everything runs."""
    if args.quick:
        args.rounds, args.duration = 1, 2
    return args


@dataclass
class Server:
    """A server under test: its URL and the processes whose CPU time is counted."""

    url: str
    pids: list[int]


@dataclass
class Measured:
    """One wrk run against a server, with the server's CPU time over it."""

    run: WrkRun
    cpu_s: float

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.run.requests if self.run.requests else float("nan")


def main() -> None:
    parser = wrk_parser(__doc__)
    choices = ["gateways", *(f"gateways-{loop}" for loop in LOOPS[1:]), *ANCHORS]
    parser.add_argument("--only", choices=choices, action="append")
    parser.add_argument(
        "--gateways-loop", choices=LOOPS, action="append", help="gateways' --loop (repeatable)"
    )
    args = quick(parser.parse_args())
    wanted = args.only or choices
    with ExitStack() as stack:
        servers = start_servers(stack, wanted, args)
        measured = alternate_measured(servers, args)
    summary(measured)
    if args.json:
        write_json(args.json, payload(measured, args))


def start_servers(
    stack: ExitStack, wanted: list[str], args: argparse.Namespace
) -> dict[str, Server]:
    servers: dict[str, Server] = {}
    for loop in args.gateways_loop or LOOPS:
        name = "gateways" if loop == LOOPS[0] else f"gateways-{loop}"
        if name in wanted:
            port = free_port()
            process = start_gateways(port, ["--loop", loop, *args.gateways_arg])
            stack.callback(process.stop)
            servers[name] = Server(f"http://127.0.0.1:{port}/", [process.proc.pid])
    starters: dict[str, Callable[[int], Any]] = {
        "uvicorn": start_uvicorn,
        "uvicorn-asyncio": partial(start_uvicorn, loop="asyncio"),
        "daphne4": start_daphne4,
    }
    for name, start in starters.items():
        if name in wanted:
            anchor = stack.enter_context(start(free_port()))
            servers[name] = Server(anchor.url, list(anchor.pids.values()))
    return servers


def alternate_measured(
    servers: dict[str, Server], args: argparse.Namespace
) -> dict[str, list[Measured]]:
    """``args.rounds`` rounds of wrk against each server in turn."""
    results: dict[str, list[Measured]] = {name: [] for name in servers}
    for index in range(args.rounds):
        for name, server in servers.items():
            before = cpu_seconds(server.pids)
            run = _checked(
                server.url, wrk_run(server.url, args.connections, args.duration, args.threads)
            )
            done = Measured(run, cpu_seconds(server.pids) - before)
            results[name].append(done)
            print(
                f"round {index + 1}  {name:<16} {run.rate:>10,.0f} req/s"
                f"  {done.cpu_ms_per_request * 1000:>6.1f} us CPU/request",
                flush=True,
            )
    return results


def alternate(urls: dict[str, str], args: argparse.Namespace) -> dict[str, list[float]]:
    """``args.rounds`` rounds of wrk against each URL in turn: req/s per server."""
    servers = {name: Server(url, []) for name, url in urls.items()}
    measured = alternate_measured(servers, args)
    return {name: [m.run.rate for m in runs] for name, runs in measured.items()}


def report(results: dict[str, list[float]], what: str, anchors: tuple[str, ...]) -> None:
    """Medians, every run, and gateways' ratio to each anchor that ran."""
    medians = {name: statistics.median(rates) for name, rates in results.items()}
    print(f"\nmedian requests/s (wrk, {what}):")
    for name, median in medians.items():
        runs = " / ".join(f"{r:,.0f}" for r in results[name])
        print(f"  {name:<9} {median:>10,.0f}   ({runs})")
    if "gateways" in medians:
        for name in anchors:
            if name in medians:
                print(f"  gateways / {name}: {medians['gateways'] / medians[name]:.2f}x")


def median_rate(runs: list[Measured]) -> float:
    return statistics.median(m.run.rate for m in runs)


def median_cpu_us(runs: list[Measured]) -> float:
    return statistics.median(m.cpu_ms_per_request for m in runs) * 1000


def summary(measured: dict[str, list[Measured]]) -> None:
    print("\nmedian requests/s (wrk, hello), CPU time per request of the server:")
    for name, runs in measured.items():
        rates = [m.run.rate for m in runs]
        shown = " / ".join(f"{r:,.0f}" for r in rates)
        cpu = median_cpu_us(runs)
        print(f"  {name:<16} {statistics.median(rates):>10,.0f}  {cpu:>6.1f} us  ({shown})")
    for row in ratios(measured):
        target = f"  (target {row['target_op']} {row['target']})" if "target" in row else ""
        print(f"  {row['name']}: {row['value']:.2f}x{target}")


def ratios(measured: dict[str, list[Measured]]) -> list[dict[str, Any]]:
    """Each gateways variant against each anchor, by median req/s, and by CPU time per
    request (anchor / gateways). The target is the issue's: gateways as installed (its
    default loop, uvloop) against uvicorn as installed; the issue allows uvloop, so
    ``gateways-asyncio`` is shown beside it without one."""
    rate = {name: median_rate(runs) for name, runs in measured.items()}
    cpu = {name: median_cpu_us(runs) for name, runs in measured.items()}
    rows = []
    for ours in (name for name in measured if name.startswith("gateways")):
        for anchor in (name for name in ANCHORS if name in measured):
            target = TARGET if (ours, anchor) == ("gateways", "uvicorn") else None
            rows.append(
                ratio_row(f"{ours} / {anchor}", "hello", rate[ours], rate[anchor], target=target)
            )
            rows.append(
                ratio_row(
                    f"{ours} / {anchor}, CPU per request ({anchor} / {ours})",
                    "hello cpu",
                    cpu[anchor],
                    cpu[ours],
                )
            )
    return rows


def measured_row(name: str, case: str, runs: list[Measured]) -> dict[str, Any]:
    """One contender's rounds as a result row: every rate, the median round's latency,
    the median CPU per request, the requests and errors of each round."""
    middle = sorted(runs, key=lambda m: m.run.rate)[len(runs) // 2]
    return result_row(
        name,
        case,
        runs=[m.run.rate for m in runs],
        latency_ms=middle.run.latency_ms,
        cpu_us_per_request=median_cpu_us(runs),
        requests=[m.run.requests for m in runs],
        errors=[m.run.errors for m in runs if m.run.errors],
    )


def payload(measured: dict[str, list[Measured]], args: argparse.Namespace) -> dict[str, Any]:
    results = [measured_row(name, "hello", runs) for name, runs in measured.items()]
    return {
        "bench": "http_hello",
        "title": "Embedded HTTP hello: gateways vs uvicorn (uvloop / asyncio), Daphne 4",
        "unit": "req/s",
        "higher_is_better": True,
        "results": results,
        "ratios": ratios(measured),
        "notes": (
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
            f"{args.rounds} round(s), servers in turn; latency of the median run; CPU: user + "
            "system time of the server process per request answered."
        ),
    }


if __name__ == "__main__":
    main()
