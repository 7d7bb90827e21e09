"""The report's charts, as PNG files drawn with matplotlib (Agg: no display needed).

- ``ratios.png``: every ratio of every benchmark against its anchor, with its target:
  the headline chart (README.md shows it);
- ``<bench>-latency.png``: latency distributions, as CDFs of the raw samples
  (``distributions``) or, without samples, the percentiles each result gives
  (``latency_ms``);
- ``<bench>-<metric>.png``: scaling curves from ``series``.

matplotlib is a benchmark-only dependency (``bench/requirements.txt``): import this
module only after :func:`available` said yes.
"""

from __future__ import annotations

import importlib.util
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.report_json import target_met

TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
MAX_BAR_GROUPS = 12  # latency bar groups in one chart
COLOURS = {True: "#2e7d32", False: "#c62828", None: "#607d8b"}  # met, not met, no target


def available() -> bool:
    """Whether matplotlib is installed in this interpreter."""
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_all(documents: Mapping[str, Mapping[str, Any]], folder: Path) -> dict[str, list[Path]]:
    """Every chart for these benchmark documents into ``folder`` (its old PNGs removed).

    Returns the paths per benchmark name, the headline under ``"ratios"``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    charts: dict[str, list[Path]] = {}
    ratios = [(name, r) for name, d in documents.items() for r in d.get("ratios", [])]
    targeted = [(name, r) for name, r in ratios if r.get("target") is not None]
    if targeted and len(targeted) < len(ratios):
        charts["ratios"] = [
            ratio_chart(targeted, folder / "ratios.png", "the issue's targets"),
            ratio_chart(ratios, folder / "ratios-all.png", "every ratio"),
        ]
    elif ratios:
        charts["ratios"] = [ratio_chart(ratios, folder / "ratios.png", "every ratio")]
    for name, document in documents.items():
        paths = [latency_chart(name, document, folder / f"{name}-latency.png")]
        paths += series_charts(name, document, folder)
        charts[name] = [p for p in paths if p is not None]
    return charts


def ratio_chart(ratios: Sequence[tuple[str, Mapping[str, Any]]], path: Path, what: str) -> Path:
    """Horizontal bars, one per ratio, on a log scale around parity; targets as ticks.

    Which way is better is in each ratio's name (and its target's direction), not here.
    """
    plt = _pyplot()
    rows = [(n, r) for n, r in ratios if isinstance(r.get("value"), int | float) and r["value"] > 0]
    values = [float(r["value"]) for _, r in rows]
    figure, axes = plt.subplots(figsize=(11, 0.3 * len(rows) + 2), layout="constrained")
    positions = list(range(len(rows)))[::-1]
    colours = [COLOURS[target_met(float(r["value"]), r)] for _, r in rows]
    axes.barh(positions, values, color=colours, height=0.65)
    for y, (_, row), value in zip(positions, rows, values, strict=True):
        axes.annotate(
            f"{value:.2f}x", (value, y), xytext=(3, 0), textcoords="offset points",
            va="center", fontsize=7, zorder=3,
            bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1},
        )  # fmt: skip
        if row.get("target") is not None:
            axes.plot([row["target"]] * 2, [y - 0.45, y + 0.45], color="black", linewidth=2)
    axes.set_yticks(positions, [_ratio_label(n, r) for n, r in rows], fontsize=7)
    axes.set_xscale("log")
    axes.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    targets = [r["target"] for _, r in rows if r.get("target")]
    low, high = min([*values, 1.0]) / 1.5, max([*values, 1.0, *targets]) * 2.5
    axes.set_xlim(low, high)
    ticks = [t for t in TICKS if low <= t <= high]
    axes.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    axes.xaxis.set_minor_formatter("")
    axes.set_ylim(-0.7, len(rows) - 0.3)
    axes.set_xlabel("ratio, log scale (dashed line: parity)")
    axes.set_title(f"gateways against its anchors, side by side: {what}", fontsize=10)
    figure.legend(handles=_legend(), fontsize=7, loc="outside lower center", ncol=4)
    return _save(figure, path)


def _ratio_label(bench: str, row: Mapping[str, Any]) -> str:
    case = f" [{row['case']}]" if row.get("case") else ""
    return textwrap.shorten(f"{bench}: {row.get('name', '')}{case}", 75, placeholder="...")


def _legend() -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [
        Patch(color=COLOURS[True], label="target met"),
        Patch(color=COLOURS[False], label="target not met"),
        Patch(color=COLOURS[None], label="no target"),
        Line2D([], [], color="black", linewidth=2, label="target"),
    ]


def latency_chart(name: str, document: Mapping[str, Any], path: Path) -> Path | None:
    """CDFs from raw samples when given, else percentile bars; None without latencies."""
    samples = {k: v for k, v in (document.get("distributions") or {}).items() if v}
    if samples:
        return _cdf_chart(name, samples, path)
    rows = [r for r in document.get("results", []) if r.get("latency_ms")]
    if not rows or len(rows) > MAX_BAR_GROUPS:  # too many to read: the series show them
        return None
    return _percentile_chart(name, rows, path)


def _cdf_chart(name: str, samples: Mapping[str, Sequence[float]], path: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5), layout="constrained")
    for stack, values in samples.items():
        ordered = sorted(values)
        fractions = [(i + 1) / len(ordered) for i in range(len(ordered))]
        axes.step(ordered, fractions, where="post", label=f"{stack} (n={len(ordered):,})")
    if min(min(v) for v in samples.values()) > 0:
        axes.set_xscale("log")
    axes.set_xlabel("latency (ms)")
    axes.set_ylabel("fraction of samples at or below")
    axes.set_title(f"{name}: latency distribution")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path)


def _percentile_chart(name: str, rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    names = sorted({p for r in rows for p in r["latency_ms"]}, key=_percentile_key)
    figure, axes = plt.subplots(figsize=(max(6, 1.2 * len(rows) + 3), 4.5), layout="constrained")
    width = 0.8 / len(names)
    for index, percentile in enumerate(names):
        xs = [i + index * width for i in range(len(rows))]
        ys = [r["latency_ms"].get(percentile, math.nan) for r in rows]
        axes.bar(xs, ys, width=width, label=percentile)
    axes.set_xticks(
        [i + 0.4 - width / 2 for i in range(len(rows))],
        [_row_label(r) for r in rows],
        fontsize=8,
        rotation=15,
    )
    axes.set_ylabel("latency (ms)")
    axes.set_title(f"{name}: latency ({', '.join(names)})")
    axes.legend(fontsize=8)
    return _save(figure, path)


def series_charts(name: str, document: Mapping[str, Any], folder: Path) -> list[Path]:
    """One chart per metric and x axis, one line per stack, for a document's ``series``."""
    charts: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for series in document.get("series", []):
        key = (str(series.get("metric", "value")), str(series.get("x_name", "x")))
        charts.setdefault(key, []).append(series)
    return [
        _series_chart(name, metric, curves, folder / f"{name}-{_slug(f'{metric} by {x}')}.png")
        for (metric, x), curves in charts.items()
    ]


def _series_chart(name: str, metric: str, curves: Sequence[Mapping[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5), layout="constrained")
    xs_all = [x for c in curves for x in c.get("x", [])]
    for curve in curves:
        label = str(curve.get("stack", "")) + (f" ({curve['case']})" if curve.get("case") else "")
        axes.plot(curve.get("x", []), curve.get("y", []), marker="o", label=label)
    if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 20:
        axes.set_xscale("log")
    axes.set_xlabel(str(curves[0].get("x_name", "x")))
    axes.set_ylabel(metric)
    axes.set_title(f"{name}: {metric}")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path)


def _save(figure: Any, path: Path) -> Path:
    figure.savefig(path, dpi=110)
    _pyplot().close(figure)
    return path


def _row_label(row: Mapping[str, Any]) -> str:
    return str(row.get("stack", "")) + (f"\n{row['case']}" if row.get("case") else "")


def _percentile_key(name: str) -> float:
    digits = "".join(c for c in name if c.isdigit() or c == ".")
    return float(digits) if digits else math.inf


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "series"
