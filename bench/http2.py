"""HTTP/2 benchmark: h2load against gateways, Daphne 4 and hypercorn, all over TLS with h2
chosen by ALPN, in one run.

    .venv/bin/python bench/http2.py [--rounds 3] [--requests 20000] [--duration S] [--quick]
                                    [--only gateways|daphne4|hypercorn|anchors ...] [--h2c]
                                    [--json FILE]

gateways runs ``serve --plugin http`` on the embedded default (memory layer, one
in-process worker) with the hello route of ``http_hello.py``, listening on a TLS endpoint
(``--http-endpoint ssl:PORT:privateKey=KEY:certKey=CERT``). Daphne 4 (Twisted's http2
extra, ``-e ssl:...``) and hypercorn (``--certfile/--keyfile``, asyncio worker) serve the
bare ASGI hello app of ``anchors/`` (``bash bench/anchors/setup.sh daphne4`` builds their
venv). A self-signed certificate is made at start into a temporary directory.

Each server must answer ``hello`` over HTTP/2 to ``curl --http2 -k`` before anything is
measured, and every h2load run must report ``Application protocol: h2``; otherwise the
run stops. After a warm-up, each round runs ``h2load -n N -c C -m M`` (or ``-D S``) for
each load shape against each server in turn; medians and the ratios
gateways/daphne4 and gateways/hypercorn are printed.

``--h2c``: cleartext HTTP/2 by prior knowledge instead (gateways on a TCP endpoint and
hypercorn; Daphne has no h2c).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.anchors.launch import VENVS, free_port, start_daphne4, start_hypercorn  # noqa: E402
from bench.report_json import add_report_arguments, ratio_row, result_row, write_json  # noqa: E402
from gateways.testing import GatewaysProcess  # noqa: E402
from gateways.testing.tls import self_signed_certificate  # noqa: E402

HOST = "127.0.0.1"
SERVERS = ("gateways", "daphne4", "hypercorn")
#: (label, clients, concurrent streams per client): many streams on few connections, and
#: many connections with one stream each (HTTP/1.1-like).
SHAPES = (("c10 m10", 10, 10), ("c100 m1", 100, 1))
#: h2load --warm-up-time of a timed run: connections and handshakes happen in it.
WARM_UP_SECONDS = 1


@dataclass
class Run:
    """One h2load run, as h2load printed it."""

    rate: float  # requests per second
    mean_ms: float  # mean time for request
    done: int
    succeeded: int
    failed: int
    non_2xx: int
    protocol: str


# --------------------------------------------------------------------------- certificate


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid one day: (cert, key) PEM paths."""
    return self_signed_certificate(directory)


# --------------------------------------------------------------------------- servers


def start_gateways(port: int, tls: tuple[Path, Path] | None, extra: list[str]) -> GatewaysProcess:
    """``gateways serve --plugin http`` with the hello route, on a TLS (or TCP) endpoint."""
    if tls:
        cert, key = tls
        endpoint = f"ssl:{port}:interface={HOST}:privateKey={key}:certKey={cert}"
    else:
        endpoint = f"tcp:{port}:interface={HOST}"
    return GatewaysProcess(
        ["serve", "http_hello:routes", "--plugin", "http", "--http-endpoint", endpoint, *extra],
        env={"PYTHONPATH": str(Path(__file__).resolve().parent)},
    )


@contextmanager
def servers(
    wanted: list[str], tls: tuple[Path, Path] | None, extra: list[str]
) -> Iterator[dict[str, str]]:
    """Start the wanted servers on free ports; yields {name: url}; stops them all after."""
    cert, key = tls if tls else (None, None)
    scheme = "https" if tls else "http"
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        for name in wanted:
            port = free_port()
            if name == "gateways":
                stack.enter_context(start_gateways(port, tls, extra))
            elif name == "daphne4":
                stack.enter_context(start_daphne4(port, certfile=cert, keyfile=key))
            else:
                stack.enter_context(start_hypercorn(port, certfile=cert, keyfile=key))
            urls[name] = f"{scheme}://{HOST}:{port}/"
        yield urls


def check_h2(name: str, url: str) -> None:
    """Stop the run unless ``url`` answers ``hello`` over HTTP/2 to curl."""
    mode = "--http2" if url.startswith("https:") else "--http2-prior-knowledge"
    out = subprocess.run(
        ["curl", mode, "-k", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_version}", url],
        capture_output=True,
        text=True,
    )
    body, _, version = out.stdout.rpartition("\n")
    if out.returncode != 0 or version != "2" or body != "hello":
        hint = "\n(does gateways' http plugin offer h2? --only anchors leaves it out)"
        raise SystemExit(
            f"{name} at {url} does not answer hello over HTTP/2: curl exit {out.returncode}, "
            f"HTTP version {version!r}, body {body[:80]!r} {out.stderr.strip()}"
            + (hint if name == "gateways" else "")
        )


# --------------------------------------------------------------------------- h2load


def _ms(value: str) -> float:
    """An h2load duration (``812us``, ``3.25ms``, ``1.02s``) in milliseconds."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not found:
        raise ValueError(f"unexpected h2load duration {value!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found[2]]
    return float(found[1]) * scale


def parse_h2load(out: str) -> Run:
    """The figures of one h2load report; raises ValueError if a line is missing."""

    def field(pattern: str) -> re.Match[str]:
        found = re.search(pattern, out, re.MULTILINE)
        if not found:
            raise ValueError(f"h2load printed no {pattern!r}:\n{out}")
        return found

    counts = field(
        r"^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed"
    )
    codes = field(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
    protocol = re.search(r"^Application protocol: (\S+)", out, re.MULTILINE)
    return Run(
        rate=float(field(r"finished in \S+, ([\d.]+) req/s")[1]),
        mean_ms=_ms(field(r"^time for request:\s+\S+\s+\S+\s+(\S+)")[1]),
        done=int(counts[2]),
        succeeded=int(counts[3]),
        failed=int(counts[4]),
        non_2xx=sum(int(codes[i]) for i in (2, 3, 4)),
        protocol=protocol[1] if protocol else "(none)",
    )


def h2load(url: str, clients: int, streams: int, load: list[str], threads: int) -> Run:
    """One h2load run; stops the benchmark unless the protocol was h2 (h2c for http://)."""
    argv = ["h2load", *load, "-c", str(clients), "-m", str(streams), "-t", str(threads), url]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    run = parse_h2load(out.stdout)
    expected = "h2" if url.startswith("https:") else "h2c"
    if run.protocol != expected:
        raise SystemExit(
            f"h2load spoke {run.protocol!r}, not {expected!r}, to {url}:\n{out.stdout}"
        )
    if run.failed or run.non_2xx or run.succeeded != run.done:
        print(
            f"    ! {url}: {run.failed} failed, {run.non_2xx} non-2xx of {run.done} done",
            file=sys.stderr,
        )
    busy = run.rate * run.mean_ms / 1000 / (clients * streams)
    if busy < 0.5:
        # Little's law: a stream is in flight rate * latency / streams of the time. Far
        # below 1, connections sat idle: closed by the server, or set up inside the
        # measured time (-n counts the TLS handshakes).
        print(f"    ! {url}: streams busy only {busy:.0%} of the run", file=sys.stderr)
    return run


# --------------------------------------------------------------------------- rounds


def measure(urls: dict[str, str], args: argparse.Namespace) -> dict[str, dict[str, list[Run]]]:
    """Warm-up, then ``args.rounds`` rounds of every shape against every server in turn."""
    if args.requests:
        load = ["-n", str(args.requests)]
    else:
        load = ["-D", str(args.duration), "--warm-up-time", str(WARM_UP_SECONDS)]
    for name, url in urls.items():
        warm = h2load(url, 10, 10, ["-n", str(args.warmup)], args.threads)
        print(f"warm-up  {name:<9} {warm.rate:>9,.0f} req/s  ({warm.protocol})", flush=True)
    results: dict[str, dict[str, list[Run]]] = {s[0]: {n: [] for n in urls} for s in SHAPES}
    for index in range(args.rounds):
        for shape, clients, streams in SHAPES:
            for name, url in urls.items():
                run = h2load(url, clients, streams, load, args.threads)
                results[shape][name].append(run)
                print(
                    f"round {index + 1}  {shape:<8} {name:<9} {run.rate:>9,.0f} req/s  "
                    f"mean {run.mean_ms:7.2f} ms",
                    flush=True,
                )
    return results


def report(results: dict[str, dict[str, list[Run]]]) -> None:
    """Per load shape: median req/s, median of the mean latencies, every run, ratios."""
    for shape, per_server in results.items():
        print(f"\n{shape}: median requests/s, mean latency (h2load), runs")
        rates = {name: statistics.median(r.rate for r in runs) for name, runs in per_server.items()}
        for name, runs in per_server.items():
            latency = statistics.median(r.mean_ms for r in runs)
            each = " / ".join(f"{r.rate:,.0f}" for r in runs)
            bad = sum(r.failed + r.non_2xx for r in runs)
            note = f"   ! {bad} failed or non-2xx" if bad else ""
            print(f"  {name:<9} {rates[name]:>9,.0f}  {latency:7.2f} ms   ({each}){note}")
        if "gateways" in rates:
            for anchor in ("daphne4", "hypercorn"):
                if anchor in rates:
                    ratio = rates["gateways"] / rates[anchor]
                    print(f"  gateways / {anchor}: {ratio:.2f}x")


def versions() -> str:
    """Versions of the servers' HTTP/2 stacks, for the record."""
    code = (
        "import importlib.metadata as m; print(' '.join(f'{p} {m.version(p)}' for p in "
        "('daphne', 'hypercorn', 'Twisted', 'h2')))"
    )
    anchors = subprocess.run(
        [str(VENVS / "daphne4" / "bin" / "python"), "-c", code], capture_output=True, text=True
    ).stdout.strip()
    h2load_version = subprocess.run(["h2load", "--version"], capture_output=True, text=True)
    return f"anchors: {anchors}; {h2load_version.stdout.strip()}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (h2load -D)")
    parser.add_argument("--requests", type=int, help="h2load -n N per run instead of -D")
    parser.add_argument("--warmup", type=int, default=2000, help="requests of the warm-up run")
    parser.add_argument("--threads", type=int, default=1, help="h2load -t")
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s, short warm-up")
    parser.add_argument("--only", action="append", choices=[*SERVERS, "anchors"], help="repeatable")
    parser.add_argument("--h2c", action="store_true", help="cleartext h2 (prior knowledge)")
    parser.add_argument("--gateways-arg", action="append", default=[], help="extra serve flag")
    add_report_arguments(parser, quick="1 round of 2 s, short warm-up")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 2, 500
    return args


def main() -> None:
    for tool in ("h2load", "curl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install -y nghttp2-client curl)")
    args = parse_args()
    chosen = set(args.only or SERVERS)
    if "anchors" in chosen:
        chosen |= {"daphne4", "hypercorn"}
    wanted = [s for s in SERVERS if s in chosen]
    if args.h2c and "daphne4" in wanted:
        print("daphne4 left out: Daphne has no cleartext HTTP/2", file=sys.stderr)
        wanted.remove("daphne4")
    print(f"{versions()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-http2-") as tmp:
        tls = None if args.h2c else make_certificate(Path(tmp))
        with servers(wanted, tls, args.gateways_arg) as urls:
            for name, url in urls.items():
                check_h2(name, url)
            results = measure(urls, args)
    report(results)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        write_json(args.json, payload(results, args))


def payload(results: dict[str, dict[str, list[Run]]], args: argparse.Namespace) -> dict[str, Any]:
    """Per load shape and server: median req/s, every round, median mean latency."""
    rows, ratios = [], []
    for shape, per_server in results.items():
        rates = {name: statistics.median(r.rate for r in runs) for name, runs in per_server.items()}
        for name, runs in per_server.items():
            rows.append(
                result_row(
                    name,
                    shape,
                    runs=[r.rate for r in runs],
                    latency_ms={"mean": statistics.median(r.mean_ms for r in runs)},
                    failed_or_non_2xx=sum(r.failed + r.non_2xx for r in runs),
                )
            )
        for anchor in ("daphne4", "hypercorn"):
            if "gateways" in rates and anchor in rates:
                ratios.append(
                    ratio_row(f"gateways / {anchor}", shape, rates["gateways"], rates[anchor])
                )
    load = f"h2load -n {args.requests}" if args.requests else f"h2load -D {args.duration}"
    return {
        "bench": "http2",
        "title": "HTTP/2 " + ("h2c (cleartext)" if args.h2c else "over TLS") + " with h2load: "
        "gateways vs Daphne 4, hypercorn",
        "unit": "req/s",
        "higher_is_better": True,
        "results": rows,
        "ratios": ratios,
        "notes": (
            f"{load} -t {args.threads} per run, {args.rounds} round(s), servers in turn; "
            "c10 m10: 10 connections x 10 streams, c100 m1: 100 connections x 1 stream. "
            f"Latency: median of h2load's mean time per request. {versions()}."
        ),
    }


if __name__ == "__main__":
    main()
