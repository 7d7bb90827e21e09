"""One JSON object per benchmark run, with the machine and versions it was measured on.

Every script in ``bench/`` accepts ``--json FILE`` and writes its figures through
:func:`write_json`, so that ``python -m bench`` can put them side by side in one report
(shape: ``/work/notes/bench-json.md``, summed up in ``bench/README.md``). Standard library
only: the scripts run under several interpreters and the anchors' venvs.

    from bench.report_json import ratio_row, result_row, write_json

    write_json(args.json, {
        "bench": "http_hello", "title": "...", "unit": "req/s", "higher_is_better": True,
        "results": [result_row("gateways", "hello", runs=[30000.0, 31000.0])],
        "ratios": [ratio_row("gateways / uvicorn", "hello", 30500.0, 41000.0, target=0.7)],
    })
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ANCHOR_REQUIREMENTS = {
    "daphne4": ROOT / "bench" / "anchors" / "requirements-daphne4.txt",
    "channels1": ROOT / "bench" / "anchors" / "requirements-channels1.txt",
}
# The distributions whose versions explain a figure (the project's and the anchors').
PACKAGES = (
    "gateways", "twisted", "autobahn", "redis", "hiredis", "aiosmtpd", "h2", "msgpack", "ormsgpack",
    "httptools", "uvloop",
)  # fmt: skip
ANCHOR_PACKAGES = (
    "daphne", "uvicorn", "hypercorn", "channels", "channels_redis", "asgi_redis", "Django",
    "Twisted", "redis", "websockets", "h2", "msgpack",
)  # fmt: skip
TARGET_OPS = (">=", "<=", ">", "<")


def write_json(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``payload`` plus ``meta`` (machine, versions, date, commit) and ``command``.

    ``command`` defaults to the command line of this process. Returns what was written.
    """
    document = dict(payload)
    document.setdefault("command", this_command())
    document.setdefault("results", [])
    document.setdefault("ratios", [])
    document["meta"] = {**metadata(), **document.get("meta", {})}
    if "distributions" in document:  # microseconds are resolution enough, and smaller
        document["distributions"] = {
            stack: [round(float(x), 3) for x in samples]
            for stack, samples in document["distributions"].items()
        }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=1, default=_jsonable) + "\n")
    temporary.replace(target)  # a reader never sees half a file
    return document


def add_report_arguments(parser: argparse.ArgumentParser, quick: str) -> None:
    """``--json FILE`` and ``--quick`` (``quick`` says what it shortens), as the runner calls.

    Either may already be there (a shared parser that gained it): that one is kept.
    """
    try:
        parser.add_argument("--json", metavar="FILE", help="also write the results there as JSON")
    except argparse.ArgumentError:
        pass  # already defined
    try:
        parser.add_argument("--quick", action="store_true", help=f"a short run: {quick}")
    except argparse.ArgumentError:
        pass


def result_row(
    stack: str,
    case: str,
    value: float | None = None,
    *,
    runs: Iterable[float] = (),
    latency_ms: Mapping[str, float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One contender's figure; ``value`` defaults to the median of ``runs``."""
    runs = [float(r) for r in runs]
    if value is None:
        if not runs:
            raise ValueError("result_row needs a value or runs")
        value = statistics.median(runs)
    row: dict[str, Any] = {"stack": stack, "case": case, "value": float(value)}
    if runs:
        row["runs"] = runs
    if latency_ms:
        row["latency_ms"] = {k: float(v) for k, v in latency_ms.items()}
    if extra:
        row["extra"] = extra
    return row


def ratio_row(
    name: str,
    case: str,
    numerator: float,
    denominator: float,
    *,
    target: float | None = None,
    target_op: str = ">=",
    note: str | None = None,
) -> dict[str, Any]:
    """``numerator / denominator`` as a ratio row, with its target when the issue sets one.

    Phrase the ratio so that the target reads naturally: for a "lower is better" unit
    either divide the anchor by gateways ("3x faster") or use ``target_op="<="``.
    """
    if target_op not in TARGET_OPS:
        raise ValueError(f"target_op must be one of {TARGET_OPS}, not {target_op!r}")
    value = numerator / denominator if denominator else None
    row: dict[str, Any] = {"name": name, "case": case, "value": value}
    if target is not None:
        row.update(target=float(target), target_op=target_op)
        row["met"] = target_met(value, row)
    if note:
        row["note"] = note
    return row


def target_met(value: float | None, row: Mapping[str, Any]) -> bool | None:
    """Whether ``value`` meets the row's target; None without a target or a value."""
    target = row.get("target")
    if target is None or value is None or value != value:  # NaN too
        return None
    op = row.get("target_op", ">=")
    return {
        ">=": value >= target,
        "<=": value <= target,
        ">": value > target,
        "<": value < target,
    }[op]


def this_command() -> str:
    """The command line of this process, as typed from the current folder."""
    python = Path(sys.executable)
    if python.is_relative_to(Path.cwd()):
        python = python.relative_to(Path.cwd())
    args = list(sys.argv)
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name.endswith(".__main__"):  # python -m package
        args[0:1] = ["-m", spec.name.removesuffix(".__main__")]
    elif spec is not None and args and args[0].endswith(".py"):  # python -m module
        args[0:1] = ["-m", spec.name]
    return shlex.join([str(python), *args])


def metadata() -> dict[str, Any]:
    """Machine, versions, date and git commit: what a reader needs to weigh a figure."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "redis_server": redis_server_version(),
        "versions": {name: package_version(name) for name in PACKAGES},
        "anchor_versions": anchor_versions(),
        "git": git_state(),
    }


def machine() -> dict[str, Any]:
    """CPU model, core count, RAM and kernel, from /proc where Linux offers it."""
    return {
        "cpu": _cpu_model() or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "kernel": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "hostname": platform.node(),
        "load_avg": _load_average(),
    }


def _proc_line(path: str, pattern: str) -> str | None:
    """The first group of ``pattern`` in a /proc file (None where there is none)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    found = re.search(pattern, text, re.MULTILINE)
    return found.group(1).strip() if found else None


def _cpu_model() -> str | None:
    return _proc_line("/proc/cpuinfo", r"^model name\s*:\s*(.+)$")


def _ram_gib() -> float | None:
    kib = _proc_line("/proc/meminfo", r"^MemTotal:\s*(\d+) kB")
    return round(int(kib) / 1024**2, 1) if kib else None


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def package_version(name: str) -> str | None:
    """The installed version of a distribution in this interpreter, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def anchor_versions() -> dict[str, dict[str, str]]:
    """The pinned versions of each anchor venv (bench/anchors/requirements-*.txt)."""
    wanted = {name.lower().replace("_", "-") for name in ANCHOR_PACKAGES}
    found: dict[str, dict[str, str]] = {}
    for venv, path in ANCHOR_REQUIREMENTS.items():
        pins = _pins(path)
        found[venv] = {name: version for name, version in pins.items() if name in wanted}
    return found


def _pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, names normalised, extras dropped."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    pins = {}
    for line in lines:
        found = re.match(r"^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s#;]+)", line)
        if found:
            pins[found.group(1).lower().replace("_", "-")] = found.group(2)
    return pins


def redis_server_version() -> str | None:
    """``redis-server --version``'s ``v=`` field, or None without a redis-server."""
    output = _run(["redis-server", "--version"])
    found = re.search(r"v=(\S+)", output or "")
    return found.group(1) if found else None


def git_state() -> dict[str, Any]:
    """The commit measured and whether the tree had uncommitted changes."""
    commit = _run(["git", "-C", str(ROOT), "rev-parse", "HEAD"])
    status = _run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _run(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _jsonable(value: Any) -> Any:
    """Paths, sets and tuples-in-disguise become JSON; anything else its str()."""
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)
