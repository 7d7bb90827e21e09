"""The benchmark runner (bench/run.py): its report and how it copes with broken benchmarks.

These tests run the runner on small stand-in scripts, not the real benchmarks (those take
minutes and are timed, which tests must not be). Charts are left out: matplotlib is a
benchmark-only dependency (bench/requirements.txt), not installed for the test suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.report_json import ratio_row, result_row, write_json
from bench.report_md import Outcome, Run, render
from bench.run import BENCHMARKS, Benchmark, parse_args, run_all, write_report

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
import argparse, sys
sys.path.insert(0, {root!r})
from bench.report_json import add_report_arguments, ratio_row, result_row, write_json
parser = argparse.ArgumentParser()
add_report_arguments(parser, quick="shorter")
args = parser.parse_args()
rounds = 1 if args.quick else 3
write_json(args.json, {{
    "bench": "good", "title": "A stand-in", "unit": "req/s", "higher_is_better": True,
    "results": [result_row("gateways", "hello", runs=[2000.0] * rounds),
                result_row("anchor", "hello", runs=[100.0] * rounds)],
    "ratios": [ratio_row("gateways / anchor", "hello", 2000.0, 100.0, target=10)],
    "notes": f"{{rounds}} round(s)",
}})
"""
CRASHES = "raise RuntimeError('the server did not start')"
NO_JSON_FLAG = "import argparse; argparse.ArgumentParser().parse_args()"
WRITES_NOTHING = "print('done, but no --json support of its own')"
HANGS = "import threading; print('started', flush=True); threading.Event().wait()"


def stand_ins(folder: Path) -> list[Benchmark]:
    scripts = {
        "good": GOOD.format(root=str(ROOT)),
        "crashes": CRASHES,
        "no_json_flag": NO_JSON_FLAG,
        "writes_nothing": WRITES_NOTHING,
        "hangs": HANGS,
    }
    for name, code in scripts.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(code))
    benchmarks = [Benchmark(name, path=folder / f"{name}.py") for name in scripts]
    benchmarks[-1] = Benchmark("hangs", path=folder / "hangs.py", quick_timeout=1.0)
    return [*benchmarks, Benchmark("missing", path=folder / "missing.py")]


def test_a_broken_benchmark_is_reported_and_the_run_goes_on(tmp_path):
    args = parse_args(["--quick", "--results", str(tmp_path / "results")])
    run = run_all(args, "--quick", stand_ins(tmp_path))

    status = {o.name: o.status for o in run.outcomes}
    assert status == {
        "good": "ok",
        "crashes": "failed",
        "no_json_flag": "no-json",
        "writes_nothing": "no-json",
        "hangs": "timeout",
        "missing": "missing",
    }
    outcomes = {o.name: o for o in run.outcomes}
    assert "the server did not start" in outcomes["crashes"].message
    assert "does not take --json" in outcomes["no_json_flag"].message
    assert "started" in outcomes["hangs"].message
    good = outcomes["good"]
    assert good.document["notes"] == "1 round(s)"  # --quick reached the script
    assert good.command.endswith(f"good.py --quick --json {tmp_path}/results/good.json")
    recorded = json.loads((tmp_path / "results" / "run.json").read_text())
    assert [o["name"] for o in recorded["outcomes"]] == list(status)


def test_the_report_shows_every_figure_ratio_target_command_and_the_machine(tmp_path):
    document = write_json(
        tmp_path / "http_redis.json",
        {
            "bench": "http_redis",
            "title": "HTTP over Redis",
            "unit": "req/s",
            "higher_is_better": True,
            "results": [
                result_row("gateways", "realistic", runs=[11000.0, 12345.6, 13000.0],
                           latency_ms={"p50": 4.0, "p99": 12.5}, cpu_us_per_request=61.0),
                result_row("channels1", "hello", runs=[900.0, 1000.0, 1100.0]),
            ],
            "ratios": [
                ratio_row("gateways / channels1", "realistic", 12345.6, 1000.0, target=10),
                ratio_row("gateways / channels1", "hello", 12000.0, 1000.0, target=15),
            ],
            "notes": "wrk -c50",
        },
    )  # fmt: skip
    run = Run(
        command=".venv/bin/python -m bench",
        options="",
        quick=False,
        started="2026-12-02T10:00:00+00:00",
        seconds=125.0,
        outcomes=[
            Outcome("http_redis", "ok", "python bench/http_redis.py --json x", 60.0,
                    0, None, "", document),
            Outcome("http2", "failed", "python bench/http2.py --json y", 3.0, 1,
                    "bench/results/s/http2.log", "exit status 1\nh2load is not installed"),
        ],
    )  # fmt: skip
    report = tmp_path / "bench" / "report.md"
    charts = {"ratios": [tmp_path / "bench" / "charts" / "ratios.png"]}

    text = render(run, charts, report)

    assert "![Ratios against the anchors](charts/ratios.png)" in text
    assert "| http_redis | gateways / channels1 | realistic | 12.35x | >= 10.00x | met |" in text
    assert (
        "| http_redis | gateways / channels1 | hello | 12.00x | >= 15.00x | **not met** |" in text
    )
    assert "1 of 2 targets met. Not finished, so their ratios are missing: http2." in text
    assert "| gateways | realistic | 12,346 | 11,000 / 12,346 / 13,000 | 4.00 | 12.5 |" in text
    assert "cpu_us_per_request 61.0" in text
    assert "python bench/http_redis.py --json x\npython bench/http2.py --json y" in text
    assert "h2load is not installed" in text and "bench/results/s/http2.log" in text
    assert "the benchmarks took 2 min 5 s. 2 benchmarks: 1 ok, 1 failed." in text
    machine = document["meta"]["machine"]
    assert f"{machine['cores']} cores" in text and machine["kernel"] in text
    assert document["meta"]["python"] in text
    assert "channels 1.1.8" in text  # the anchors' pinned versions


def test_the_report_says_why_it_has_no_charts_and_keeps_its_record(tmp_path):
    samples = [float(n) for n in range(20_000)]
    document = {"bench": "x", "results": [], "ratios": [], "distributions": {"g": samples}}
    run = Run(".venv/bin/python -m bench", "", True, "2026-12-02T10:00:00+00:00", 1.0,
              [Outcome("x", "ok", "python bench/x.py", document=document)])  # fmt: skip
    report = tmp_path / "report.md"

    text = write_report(run, report, tmp_path / "charts", charts=False)

    assert report.read_text() == text
    assert "_No charts: drawn without charts (--no-charts)_" in text
    assert "**quick mode**" in text
    assert not (tmp_path / "charts").exists()
    kept = json.loads(report.with_suffix(".json").read_text())
    thinned = kept["outcomes"][0]["document"]["distributions"]["g"]
    assert len(thinned) == 1001
    assert (thinned[0], thinned[500], thinned[-1]) == (0.0, 10_000.0, 19_999.0)
    assert Run.from_dict(kept).outcomes[0].name == "x"  # --render reads it back


def test_python_dash_m_bench_lists_every_benchmark():
    listed = subprocess.run(
        [sys.executable, "-m", "bench", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.split() == [b.name for b in BENCHMARKS]
    assert all(b.script.exists() for b in BENCHMARKS), "a listed benchmark has no script"


def test_a_spent_budget_skips_what_is_left(tmp_path):
    args = parse_args(["--quick", "--budget", "5", "--results", str(tmp_path / "results")])
    run = run_all(args, "--quick --budget 5", stand_ins(tmp_path)[:2])

    assert [(o.name, o.status) for o in run.outcomes] == [
        ("good", "skipped"),
        ("crashes", "skipped"),
    ]
    assert "skipped (budget spent)" in render(run, {}, tmp_path / "report.md")
