"""One command, one report: every benchmark with its anchors, then bench/report.md and charts.

    .venv/bin/python -m bench [--quick] [--only NAME ...]     (or bench/run.py)
    .venv/bin/python -m bench --render bench/results/STAMP/run.json   # report again

Each benchmark script runs as a subprocess (``bench/NAME.py ... --json FILE``, plus
``--quick`` in quick mode) from the repository root, its output in a log next to its
JSON under ``bench/results/<timestamp>/`` (git-ignored). One that fails, times out,
writes no JSON or does not exist is reported as such; the run goes on. Then the run
record (``run.json``) is rendered to ``bench/report.md``, with the charts in
``bench/charts/`` (matplotlib, ``bench/requirements.txt``), and copied to
``bench/report.json`` (latency samples thinned to their quantiles) for the record.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report_json import this_command  # noqa: E402
from bench.report_md import Outcome, Run, render  # noqa: E402

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
#: A quick run of everything must end within 5 minutes on 2 cores; this leaves a margin.
QUICK_BUDGET = 270.0
#: Of the budget, this much is kept for each benchmark still to come: one slow script
#: cannot starve the rest.
RESERVE = 20.0
#: SIGINT first (the scripts stop their servers on KeyboardInterrupt), SIGKILL after this.
STOP_GRACE = 15.0
#: Latency samples kept per stack in bench/report.json (quantiles of the raw samples).
KEPT_SAMPLES = 1001


@dataclass(frozen=True)
class Benchmark:
    """A script in bench/ and how the runner calls it."""

    name: str
    args: tuple[str, ...] = ()
    timeout: float = 1800.0  # full run, seconds
    quick_timeout: float = 90.0
    path: Path | None = None  # the script, if not bench/NAME.py

    @property
    def script(self) -> Path:
        return self.path or BENCH / f"{self.name}.py"

    def argv(self, json_path: Path, quick: bool) -> list[str]:
        mode = ["--quick"] if quick else []
        script = str(_rel(self.script))
        return [_python(), script, *self.args, *mode, "--json", str(_rel(json_path))]


BENCHMARKS = (
    Benchmark("http_hello"),
    Benchmark("http_redis", args=("--app", "both")),
    Benchmark("http2"),
    Benchmark("websocket_bench"),
    Benchmark("redis_layer"),
    Benchmark("email_throughput"),
    Benchmark("irc_latency"),
    Benchmark("ordering"),
    Benchmark("scaling", timeout=3600.0, quick_timeout=150.0),
)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.list:
        for bench in BENCHMARKS:
            print(bench.name)
        return 0
    if args.render:
        run = Run.from_dict(json.loads(Path(args.render).read_text()))
    else:
        run = run_all(args, options=_shell(argv))
    write_report(run, Path(args.report), Path(args.charts), charts=not args.no_charts)
    failed = [o.name for o in run.outcomes if o.status not in ("ok", "skipped")]
    print(
        f"report: {_rel(Path(args.report))}" + (f"; not ok: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [b.name for b in BENCHMARKS]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs: all in under 5 min")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=names,
        metavar="NAME",
        help=f"run these only: {', '.join(names)}",
    )
    parser.add_argument(
        "--results", type=Path, help="folder for the JSON and logs [bench/results/<timestamp>]"
    )
    parser.add_argument("--report", default=str(BENCH / "report.md"), help="[bench/report.md]")
    parser.add_argument("--charts", default=str(BENCH / "charts"), help="[bench/charts]")
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds for the whole run; benchmarks "
        f"that would start after it are skipped [{QUICK_BUDGET:.0f} with --quick]",
    )
    parser.add_argument("--render", metavar="RUN_JSON", help="only render an earlier run.json")
    parser.add_argument("--no-charts", action="store_true", help="markdown only")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.budget is None and args.quick:
        args.budget = QUICK_BUDGET
    return args


def run_all(
    args: argparse.Namespace, options: str = "", benchmarks: Sequence[Benchmark] = BENCHMARKS
) -> Run:
    """Every chosen benchmark in turn; the run record is kept in the results folder."""
    stamp = datetime.datetime.now(datetime.UTC)
    folder = args.results or RESULTS / stamp.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [b for b in benchmarks if not args.only or b.name in args.only]
    deadline = time.monotonic() + args.budget if args.budget else None
    run = Run(
        command=this_command(),
        options=options,
        quick=args.quick,
        started=stamp.isoformat(timespec="seconds"),
        seconds=0.0,
    )
    started = time.monotonic()
    for index, bench in enumerate(chosen):
        reserved = RESERVE * (len(chosen) - index - 1)
        own_deadline = None if deadline is None else deadline - reserved
        outcome = run_one(bench, folder, args.quick, own_deadline)
        print(f"{bench.name:<17} {outcome.status:<8} {outcome.seconds:6.1f} s", flush=True)
        if outcome.status not in ("ok", "skipped"):
            print("  " + outcome.message.strip().replace("\n", "\n  "), file=sys.stderr)
        run.outcomes.append(outcome)
        run.seconds = time.monotonic() - started
        (folder / "run.json").write_text(json.dumps(run.to_dict(), indent=1) + "\n")
    return run


def run_one(bench: Benchmark, folder: Path, quick: bool, deadline: float | None) -> Outcome:
    """Run one script with ``--json``, stopped at ``deadline``; its outcome, whatever happened."""
    json_path = folder / f"{bench.name}.json"
    log_path = folder / f"{bench.name}.log"
    argv = bench.argv(json_path, quick)
    outcome = Outcome(bench.name, "ok", _shell(argv), log=str(_rel(log_path)))
    if not bench.script.exists():
        outcome.status, outcome.message = "missing", f"{_rel(bench.script)} does not exist"
        return outcome
    timeout = bench.quick_timeout if quick else bench.timeout
    if deadline is not None:
        left = deadline - time.monotonic() - STOP_GRACE  # stopping it may take that long
        if left < 10:
            outcome.status, outcome.message = "skipped", "the run's --budget was spent"
            return outcome
        timeout = min(timeout, left)
    json_path.unlink(missing_ok=True)
    started = time.monotonic()
    outcome.returncode, timed_out = _execute(argv, log_path, timeout)
    outcome.seconds = time.monotonic() - started
    return _judge(outcome, json_path, log_path, timed_out, timeout)


def _execute(argv: list[str], log_path: Path, timeout: float) -> tuple[int | None, bool]:
    """(exit status, timed out?). The script runs in its own session, so a Ctrl-C here is
    passed on to it, as a timeout is: SIGINT (it stops its servers), SIGKILL if it lingers."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        try:
            return process.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            return _stop(process), True
        except KeyboardInterrupt:
            _stop(process)
            raise


def _stop(process: subprocess.Popen[bytes]) -> int:
    _signal_group(process.pid, signal.SIGINT)
    try:
        return process.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        return process.wait()


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _judge(
    outcome: Outcome, json_path: Path, log_path: Path, timed_out: bool, timeout: float
) -> Outcome:
    """Status and message from the exit status, the log and the JSON file."""
    tail = _tail(log_path)
    if timed_out:
        outcome.status, outcome.message = "timeout", f"stopped after {timeout:.0f} s\n{tail}"
    elif outcome.returncode != 0:
        outcome.status, outcome.message = "failed", f"exit status {outcome.returncode}\n{tail}"
    elif not json_path.exists():
        outcome.status, outcome.message = (
            "no-json",
            f"exit status 0 but no {json_path.name}\n{tail}",
        )
    if "unrecognized arguments" in tail and "--json" in tail:
        outcome.status = "no-json"
        outcome.message = "the script does not take --json (and --quick) yet\n" + tail
    if json_path.exists() and not timed_out:
        try:
            outcome.document = json.loads(json_path.read_text())
        except json.JSONDecodeError as exc:
            outcome.status, outcome.message = "failed", f"{json_path.name}: {exc}\n{tail}"
    return outcome


def write_report(run: Run, report: Path, charts_folder: Path, charts: bool = True) -> str:
    """bench/report.md (and its charts) from a run; bench/report.json beside it."""
    documents = {o.name: o.document for o in run.outcomes if o.document}
    note = ""
    paths: dict[str, list[Path]] = {}
    if not charts:
        note = "drawn without charts (--no-charts)"
    else:
        from bench import report_charts

        if report_charts.available():
            paths = report_charts.draw_all(documents, charts_folder)
        else:
            note = "matplotlib is not installed (`.venv/bin/pip install -r bench/requirements.txt`)"
    text = render(run, paths, report, note)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text)
    record = report.with_suffix(".json")
    record.write_text(json.dumps(_thinned(run.to_dict()), separators=(",", ":")) + "\n")
    return text


def _thinned(run: dict[str, Any]) -> dict[str, Any]:
    """The run record with each latency sample list cut to its quantiles (for the repo)."""
    for outcome in run["outcomes"]:
        distributions = (outcome.get("document") or {}).get("distributions") or {}
        for stack, samples in distributions.items():
            distributions[stack] = _quantiles(samples, KEPT_SAMPLES)
    return run


def _quantiles(samples: Sequence[float], count: int) -> list[float]:
    if len(samples) <= count:
        return list(samples)
    ordered = sorted(samples)
    step = (len(ordered) - 1) / (count - 1)
    return [ordered[round(i * step)] for i in range(count)]


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _python() -> str:
    return str(_rel(Path(sys.executable)))


def _rel(path: Path) -> Path:
    """Relative to the repository root when inside it: commands read as typed there."""
    path = Path(os.path.abspath(path))
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _shell(argv: Sequence[str]) -> str:
    return shlex.join(argv)


if __name__ == "__main__":
    sys.exit(main())
