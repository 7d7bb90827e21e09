"""HTTP over Redis: gateways against the Channels 1 stack it descends from, same workload.

    .venv/bin/python bench/http_redis.py [--rounds 5] [--duration 5] [--connections 50]
        [--app hello|realistic|both] [--quick] [--json FILE]

Both stacks run an interface process and a separate worker process on one redis-server
(from bench/anchors/launch.py), each in its own database:

- **gateways**: ``gateways serve --plugin http --layer redis://...`` (interfaces only)
  plus ``gateways worker http_hello:routes --layer redis://...``, the hello route of
  ``http_hello.py`` (``--app realistic``: ``realistic_app:routes``, which also reads the
  websocket, durable email and irc-client channels, as a real app's worker does;
  ``--app both``: one stack of each, side by side, as ``python -m bench`` runs it);
- **Channels 1**: Daphne 1.4.2 + one ``manage.py runworker`` (Channels 1.1.8,
  asgi_redis 1.4.3), answering ``hello`` from a raw consumer (``start_channels1``).

After a 1 s warm-up of each, each round runs ``wrk --latency`` (Debian package ``wrk``)
against each stack in turn; the median per stack, the CPU time per request (interface +
worker processes) and the ratios are printed, with the issue's targets: the realistic
worker at least 10x Channels 1, the single-channel (hello) worker at least 15x.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.anchors.launch import free_port, start_channels1, start_redis  # noqa: E402
from bench.http_hello import (  # noqa: E402
    Measured,
    Server,
    alternate_measured,
    measured_row,
    median_cpu_us,
    median_rate,
    quick,
    wrk_parser,
)
from bench.loadgen import wrk  # noqa: E402
from bench.report_json import ratio_row, write_json  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402

#: The worker's routes per ``--app``: the hello route alone, or every bundled protocol's.
APPS = {"hello": "http_hello", "realistic": "realistic_app"}
#: Issue 13's targets for gateways / Channels 1, per app.
TARGETS = {"hello": 15.0, "realistic": 10.0}


def start_gateways(
    stack: ExitStack, port: int, layer: str, extra: list[str], app: str = "http_hello"
) -> Server:
    """Interface and worker as two processes, once a request went through both."""
    env = {"PYTHONPATH": str(HERE)}
    pids = []
    for args in (
        ["serve", "--plugin", "http", "--http-port", str(port), "--layer", layer, *extra],
        ["worker", f"{app}:routes", "--layer", layer],
    ):
        process = GatewaysProcess(args, env=env)
        stack.callback(process.stop)
        pids.append(process.proc.pid)
    url = f"http://127.0.0.1:{port}/"
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b"hello", "gateways did not answer hello"
    return Server(url, pids)


def main() -> None:
    parser = wrk_parser(__doc__)
    parser.add_argument("--app", choices=[*APPS, "both"], default="hello")
    args = quick(parser.parse_args())
    apps = list(APPS) if args.app == "both" else [args.app]
    with ExitStack() as stack:
        redis = stack.enter_context(start_redis(free_port()))
        base = redis.url.rsplit("/", 1)[0]
        servers = {
            stack_name(app): start_gateways(
                stack, free_port(), f"{base}/{2 + index}", args.gateways_arg, APPS[app]
            )
            for index, app in enumerate(apps)
        }
        channels1 = stack.enter_context(start_channels1(free_port(), f"{base}/1", flush=True))
        servers["channels1"] = Server(channels1.url, list(channels1.pids.values()))
        for server in servers.values():  # cold paths, connections and scripts: not measured
            wrk(server.url, args.connections, 1, args.threads)
        measured = alternate_measured(servers, args)
    rows = ratios(measured, apps)
    summary(measured, rows)
    if args.json:
        write_json(args.json, payload(measured, rows, args))


def stack_name(app: str) -> str:
    return "gateways" if app == "hello" else f"gateways-{app}"


def ratios(measured: dict[str, list[Measured]], apps: list[str]) -> list[dict[str, Any]]:
    """gateways / Channels 1 per app, by median req/s (with the issue's target) and by
    CPU time per request (Channels 1 / gateways: how much less work a request costs)."""
    anchor = measured["channels1"]
    rows = []
    for app in apps:
        ours = measured[stack_name(app)]
        name = f"{stack_name(app)} / channels1"
        rows.append(
            ratio_row(name, app, median_rate(ours), median_rate(anchor), target=TARGETS[app])
        )
        rows.append(
            ratio_row(
                f"{name}, CPU per request (channels1 / gateways)",
                f"{app} cpu",
                median_cpu_us(anchor),
                median_cpu_us(ours),
            )
        )
    return rows


def summary(measured: dict[str, list[Measured]], rows: list[dict[str, Any]]) -> None:
    print("\nmedian requests/s (wrk, hello over Redis), CPU per request (interface + worker):")
    for name, runs in measured.items():
        shown = " / ".join(f"{m.run.rate:,.0f}" for m in runs)
        print(
            f"  {name:<20} {median_rate(runs):>10,.0f}  {median_cpu_us(runs):>7.1f} us  ({shown})"
        )
    for row in rows:
        target = f"  (target {row['target_op']} {row['target']:g}x)" if "target" in row else ""
        print(f"  {row['name']}: {row['value']:.2f}x{target}")


def payload(
    measured: dict[str, list[Measured]], rows: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    results = [
        measured_row(name, next((a for a in APPS if stack_name(a) == name), "hello"), runs)
        for name, runs in measured.items()
    ]
    return {
        "bench": "http_redis",
        "title": "HTTP over Redis (interface + worker): gateways vs Channels 1",
        "unit": "req/s",
        "higher_is_better": True,
        "results": results,
        "ratios": rows,
        "notes": (
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
            f"{args.rounds} round(s), stacks in turn, one redis-server (a database each). "
            "Channels 1 serves the same hello request whatever the gateways worker's routes; "
            "CPU: user + system time of the interface and worker processes per request "
            "(Redis not counted, for either)."
        ),
    }


if __name__ == "__main__":
    main()
