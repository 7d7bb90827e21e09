"""Load helpers for the scaling benchmark: wrk with its latency distribution, the CPU
time of server processes, waiting for them to go quiet, and the file-descriptor limit.

Standard library only.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def raise_fd_limit() -> int:
    """Soft limit of open files up to the hard one (children inherit it: wrk needs it)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@dataclass
class WrkRun:
    """What one ``wrk --latency`` run printed."""

    rate: float = 0.0
    requests: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    output: str = ""

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def wrk(
    url: str, connections: int, duration: float, threads: int = 1, timeout: float = 5
) -> WrkRun:
    """``wrk -tT -cN -dD --latency --timeout`` (whole seconds: wrk takes no fractions);
    requests slower than ``timeout`` count as errors (wrk leaves them out of its latency
    figures)."""
    argv = [
        "wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{round(duration)}s",
        f"--timeout={round(timeout)}s", "--latency", url,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    run = parse_wrk(done.stdout + done.stderr)
    if done.returncode != 0:
        run.errors["wrk_exit"] = done.returncode or 1
    return run


def parse_wrk(out: str) -> WrkRun:
    run = WrkRun(output=out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    run.rate = float(rate.group(1)) if rate else 0.0
    total = re.search(r"(\d+) requests in", out)
    run.requests = int(total.group(1)) if total else 0
    for pct, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M):
        run.latency_ms[f"p{pct}"] = float(value) * UNITS[unit]
    sockets = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sockets:
        names = ("connect", "read", "write", "timeout")
        for name, count in zip(names, sockets.groups(), strict=True):
            if int(count):
                run.errors[name] = int(count)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        run.errors["non_2xx"] = int(non2xx.group(1))
    return run


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of ``pids`` so far (processes gone count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


def settle(pids: Sequence[int], busy: float = 0.05, timeout: float = 30.0) -> float:
    """Wait until ``pids`` together use less than ``busy`` of one core (a server still
    working off the last step's disconnects would slow the next one); returns the wait."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = cpu_seconds(pids)
        time.sleep(0.25)
        if cpu_seconds(pids) - before < busy * 0.25:
            break
    return time.monotonic() - started
