"""``bench/report.md`` from one run of the benchmarks (standard library only).

The input is the run record that ``bench/run.py`` writes (``run.json``): one entry per
benchmark with its status, the exact command, and the JSON document the script wrote
(``bench/report_json.py``). Charts are drawn elsewhere (``report_charts.py``) and passed
in as paths, so this module is testable without matplotlib.
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.report_json import target_met

STATUS_TEXT = {
    "ok": "ok",
    "failed": "failed",
    "timeout": "timed out",
    "no-json": "no JSON written",
    "missing": "missing",
    "skipped": "skipped (budget spent)",
}
MET_TEXT = {True: "met", False: "**not met**", None: "—"}
RATIO_HEADERS = ["ratio", "case", "value", "target", "target met"]
REPRODUCE = """\
```sh
.venv/bin/pip install -r bench/requirements.txt   # matplotlib, for the charts
bash bench/anchors/setup.sh                       # the anchors' venvs
.venv/bin/python -m bench {args}
```"""


@dataclass
class Outcome:
    """What became of one benchmark in a run."""

    name: str
    status: str  # a key of STATUS_TEXT
    command: str
    seconds: float = 0.0
    returncode: int | None = None
    log: str | None = None
    message: str = ""  # why it failed: the tail of its output
    document: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Run:
    """A whole run: its mode, command line, timing and every benchmark's outcome."""

    command: str  # the runner's command line
    options: str  # its options alone, for the "run them again" line
    quick: bool
    started: str
    seconds: float
    outcomes: list[Outcome] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Run:
        outcomes = [Outcome.from_dict(o) for o in data.get("outcomes", [])]
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**fields, "outcomes": outcomes})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def render(run: Run, charts: Mapping[str, Sequence[Path]], report: Path, note: str = "") -> str:
    """The whole report as markdown; chart paths are made relative to ``report``'s folder.

    ``charts`` maps a benchmark name (or ``"ratios"``: the headline chart, then any more
    ratio charts) to its images;
    ``note`` says why there are none when matplotlib was missing.
    """
    links = {name: [_relative(p, report.parent) for p in paths] for name, paths in charts.items()}
    headline, *more = links.get("ratios", []) or [""]
    parts = [
        _header(run),
        _images([headline] if headline else [], "Ratios against the anchors") or _no_charts(note),
        _ratios_section(run.outcomes),
        _images(more, "Every ratio of the run"),
        _machine_section(run.outcomes),
        _commands_section(run),
        *(_benchmark_section(o, links.get(o.name, [])) for o in run.outcomes),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def _header(run: Run) -> str:
    counts: dict[str, int] = {}
    for outcome in run.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    tally = ", ".join(f"{n} {STATUS_TEXT.get(status, status)}" for status, n in counts.items())
    mode = (
        "**quick mode**: short runs, rough figures; compare the ratios, not the rates"
        if run.quick
        else "full runs"
    )
    return (
        "# Benchmark report\n\n"
        f"Written by `{run.command}` ({mode}), started {_when(run.started)}, "
        f"the benchmarks took {_duration(run.seconds)}. {len(run.outcomes)} benchmarks: {tally}.\n"
        "Every figure below was measured in this one run on the machine described under "
        '"Machine and versions"; each ratio compares contenders measured side by side.'
    )


def _no_charts(note: str) -> str:
    return f"_No charts: {note}_" if note else ""


def _images(paths: Iterable[str], alt: str) -> str:
    return "\n\n".join(f"![{alt}]({p})" for p in paths)


def _ratios_section(outcomes: Sequence[Outcome]) -> str:
    rows = [
        [o.name, *_ratio_cells(r)]
        for o in outcomes
        if o.document
        for r in o.document.get("ratios", [])
    ]
    if not rows:
        return "## Ratios against the anchors\n\nNo ratios: no benchmark finished."
    table = _table(["benchmark", *RATIO_HEADERS], rows, (3, 4))
    verdicts = [r[-1] for r in rows if r[4]]
    summary = f"{verdicts.count(MET_TEXT[True])} of {len(verdicts)} targets met."
    unfinished = [o.name for o in outcomes if o.status != "ok"]
    if unfinished:
        summary += f" Not finished, so their ratios are missing: {', '.join(unfinished)}."
    return f"## Ratios against the anchors\n\n{table}\n\n{summary}"


def _ratio_cells(row: Mapping[str, Any]) -> list[str]:
    return [
        str(row.get("name", "")),
        str(row.get("case", "")),
        _ratio(row.get("value")),
        _target(row),
        MET_TEXT[_met(row)],
    ]


def _machine_section(outcomes: Sequence[Outcome]) -> str:
    metas = [o.document["meta"] for o in outcomes if o.document and o.document.get("meta")]
    if not metas:
        return ""
    meta = metas[0]
    hw = meta.get("machine", {})
    git = meta.get("git", {})
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items() if v)
    rows = [
        ["CPU", f"{hw.get('cpu')}, {hw.get('cores')} cores, {hw.get('arch', '')}"],
        ["RAM", f"{hw.get('ram_gib')} GiB"],
        ["kernel", str(hw.get("kernel"))],
        ["Python", f"{meta.get('python')} ({meta.get('python_implementation', '')})"],
        ["Redis server", str(meta.get("redis_server"))],
        ["gateways side", versions],
        *(
            [f"anchors: `{venv}` venv", ", ".join(f"{k} {v}" for k, v in pins.items())]
            for venv, pins in meta.get("anchor_versions", {}).items()
        ),
        [
            "git commit",
            f"`{git.get('commit')}`" + (" + uncommitted changes" if git.get("dirty") else ""),
        ],
        ["load average (1, 5, 15 min)", _loads(metas)],
    ]
    return "## Machine and versions\n\n" + _table(["", ""], rows)


def _loads(metas: Sequence[Mapping[str, Any]]) -> str:
    """The load average as each benchmark ended: how busy the machine was."""
    loads = [m.get("machine", {}).get("load_avg") for m in metas]
    shown = [" / ".join(f"{x:.2f}" for x in load) for load in loads if load]
    return "; ".join(shown) + " (as each benchmark ended)" if shown else "unknown"


def _commands_section(run: Run) -> str:
    lines = [o.command for o in run.outcomes if o.status != "skipped"]
    return (
        "## Commands\n\nThe runner ran each benchmark as below (from the repository root), "
        "one after the other:\n\n```sh\n" + "\n".join(lines) + "\n```\n\n"
        "To run them all again and rewrite this report and its charts:\n\n"
        + REPRODUCE.format(args=run.options)
    )


def _benchmark_section(outcome: Outcome, charts: Sequence[str]) -> str:
    document = outcome.document or {}
    title = document.get("title")
    parts = [
        f"### {outcome.name}" + (f": {title}" if title else ""),
        f"Status: {_status(outcome.status)}, "
        f"{_duration(outcome.seconds)}. Command: `{outcome.command}`",
    ]
    if outcome.status != "ok":
        log = f" (whole output: `{outcome.log}`)" if outcome.log else ""
        parts.append(f"What it said{log}:\n\n```text\n{outcome.message.strip()}\n```")
    if document:
        parts.append(_results_table(document))
        ratios = document.get("ratios", [])
        if ratios:
            parts.append(_table(RATIO_HEADERS, [_ratio_cells(r) for r in ratios], (2, 3)))
        parts.append(_images(charts, f"{outcome.name} chart"))
        if document.get("notes"):
            parts.append(str(document["notes"]))
    return "\n\n".join(p for p in parts if p)


def _results_table(document: Mapping[str, Any]) -> str:
    """Every contender's figure, its rounds, latency percentiles and extras."""
    unit = document.get("unit", "")
    higher = document.get("higher_is_better")
    better = "" if higher is None else (", higher is better" if higher else ", lower is better")
    results = document.get("results", [])
    percentiles = sorted(
        {p for r in results for p in r.get("latency_ms", {})}, key=_percentile_order
    )
    rows = []
    for r in results:
        extra = ", ".join(
            f"{k} {_number(v)}" for k, v in r.get("extra", {}).items() if v not in (None, [], {})
        )
        rows.append(
            [
                r.get("stack", ""),
                r.get("case", ""),
                _number(r.get("value")),
                " / ".join(_number(x) for x in r.get("runs", [])),
                *(_number(r.get("latency_ms", {}).get(p)) for p in percentiles),
                extra,
            ]
        )
    headers = [
        "stack",
        "case",
        f"{unit}{better}".strip(", ") or "value",
        "runs",
        *(f"{p} ms" for p in percentiles),
        "other",
    ]
    return _table(headers, rows, range(2, 4 + len(percentiles))) if rows else "No results."


def _percentile_order(name: str) -> float:
    digits = "".join(c for c in name if c.isdigit() or c == ".")
    try:
        return float(digits)
    except ValueError:
        return math.inf


def _status(status: str) -> str:
    text = STATUS_TEXT.get(status, status)
    return text if status in ("ok", "skipped") else f"**{text}**"


def _met(row: Mapping[str, Any]) -> bool | None:
    """The row's own verdict, or one worked out from its target."""
    if "met" in row:
        return row["met"]
    return target_met(row.get("value"), row)


def _target(row: Mapping[str, Any]) -> str:
    if row.get("target") is None:
        return ""
    return f"{row.get('target_op', '>=')} {_ratio(row['target'])}"


def _ratio(value: Any) -> str:
    if not isinstance(value, int | float) or value != value:
        return "—"
    return f"{value:.2f}x" if value < 100 else f"{value:,.0f}x"


def _number(value: Any) -> str:
    """Figures to three or four significant digits, thousands separated."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    magnitude = abs(value)
    if magnitude >= 100 or (isinstance(value, int) and magnitude):
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Iterable[int] = ()) -> str:
    """A markdown table; the columns numbered in ``right`` are right-aligned."""

    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    right = set(right)
    rule = ["---:" if i in right else "---" for i in range(len(headers))]
    return "\n".join([line(headers), line(rule), *map(line, rows)])


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _when(iso: str) -> str:
    try:
        moment = datetime.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"
