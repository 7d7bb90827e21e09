"""HTTP benchmark: requests per second for a hello route, gateways against Daphne 4 and
uvicorn serving a bare ASGI hello app, in the same run.

    .venv/bin/python bench/http_hello.py [--rounds 3] [--duration 5] [--connections 50]

gateways runs ``serve --plugin http`` on the embedded default (memory layer, one
in-process worker) with the route below; every request goes through the channel layer
and the worker, as in any deployment. Daphne 4 and uvicorn come from the anchors
(``bench/anchors/launch.py``; ``bash bench/anchors/setup.sh`` builds their venvs).
All three servers stay up; each round runs ``wrk`` (Debian package ``wrk``) against
each of them in turn, and the median per server is reported with the ratios.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.anchors.launch import free_port, start_daphne4, start_uvicorn  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402

TEXT = [[b"content-type", b"text/plain"]]


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
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"    ! {url}: {errors.group(0)}", file=sys.stderr)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise SystemExit(f"wrk printed no rate:\n{out}")
    return float(found.group(1))


def wrk_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every wrk benchmark takes; refuses to start without wrk."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gateways-arg", action="append", default=[], help="extra serve flags")
    return parser


def main() -> None:
    parser = wrk_parser(__doc__)
    parser.add_argument("--only", choices=["gateways", "daphne4", "uvicorn"], action="append")
    args = parser.parse_args()

    with ExitStack() as stack:
        urls: dict[str, str] = {}
        wanted = args.only or ["gateways", "daphne4", "uvicorn"]
        if "gateways" in wanted:
            port = free_port()
            process = start_gateways(port, args.gateways_arg)
            stack.callback(process.stop)
            urls["gateways"] = f"http://127.0.0.1:{port}/"
        starters: dict[str, Callable[[int], Any]] = {
            "daphne4": start_daphne4,
            "uvicorn": start_uvicorn,
        }
        for name, start in starters.items():
            if name in wanted:
                anchor = stack.enter_context(start(free_port()))
                urls[name] = anchor.url
        results = alternate(urls, args)
        report(results, "hello", ("daphne4", "uvicorn"))


def alternate(urls: dict[str, str], args: argparse.Namespace) -> dict[str, list[float]]:
    """``args.rounds`` rounds of wrk against each server in turn: req/s per server."""
    results: dict[str, list[float]] = {name: [] for name in urls}
    for index in range(args.rounds):
        for name, url in urls.items():
            rate = wrk(url, args.duration, args.connections, args.threads)
            results[name].append(rate)
            print(f"round {index + 1}  {name:<9} {rate:>10,.0f} req/s", flush=True)
    return results


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


if __name__ == "__main__":
    main()
