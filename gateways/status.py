"""``gateways status``: what the layer says about channels, workers and interfaces.

It reads only the layer (the heartbeats processes write there, and each channel's
figures), so it runs anywhere the layer is reachable, and doubles as a health check:
the report names its problems, and the command exits 1 when there is one.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, TypedDict

from gateways.layers.base import BaseChannelLayer

__all__ = ["Report", "collect", "render"]


class ChannelRow(TypedDict):
    depth: int
    oldest_age: float | None
    capacity: int
    workers: int  # live workers receiving it
    produced_by: int  # live interface processes producing it


class Report(TypedDict):
    channels: dict[str, ChannelRow]
    workers: list[dict[str, Any]]
    interfaces: list[dict[str, Any]]
    problems: list[str]


async def collect(layer: BaseChannelLayer, max_age: float) -> Report:
    """One look at the layer: every channel a live process uses or that holds messages."""
    workers, interfaces = await asyncio.gather(layer.alive("worker"), layer.alive("interface"))
    received = [c for w in workers for c in w.get("channels", ())]
    produced = [c for i in interfaces for c in i.get("produces", ())]
    names = sorted({*received, *produced, *await layer.busy_channels()})
    figures = await layer.channel_figures(names)
    channels: dict[str, ChannelRow] = {
        name: {
            **figures[name],
            "workers": received.count(name),
            "produced_by": produced.count(name),
        }
        for name in names
    }
    return {
        "channels": channels,
        "workers": workers,
        "interfaces": interfaces,
        "problems": problems(channels, max_age),
    }


def problems(channels: dict[str, ChannelRow], max_age: float) -> list[str]:
    found = []
    for name, row in channels.items():
        if row["produced_by"] and not row["workers"]:
            found.append(f"{name}: interfaces produce it and no live worker receives it")
        age = row["oldest_age"]
        if age is not None and age > max_age:
            found.append(f"{name}: the oldest message waited {age:.1f}s (more than {max_age:g}s)")
    return found


def render(report: Report, as_json: bool) -> str:
    if as_json:
        return json.dumps(report, indent=2, sort_keys=True, default=str)
    lines = ["channels:"]
    lines.append(f"  {'name':<32} {'depth':>7} {'capacity':>8} {'oldest':>8} {'workers':>7}")
    for name, row in report["channels"].items():
        age = "-" if row["oldest_age"] is None else f"{row['oldest_age']:.1f}s"
        lines.append(
            f"  {name:<32} {row['depth']:>7} {row['capacity']:>8} {age:>8} {row['workers']:>7}"
        )
    now = time.time()
    lines.append(f"workers: {len(report['workers'])}")
    for w in report["workers"]:
        lines.append(
            f"  {w['name']}  in flight {w['in_flight']}/{w['concurrency']}  handled "
            f"{w['handled']}  failed {w['failed']}  seen {now - w['seen']:.0f}s ago"
        )
    lines.append(f"interfaces: {len(report['interfaces'])}")
    for i in report["interfaces"]:
        opened = ", ".join(f"{name} {count}" for name, count in i.get("open", {}).items())
        lines.append(f"  {i['name']}  {opened or 'no interfaces'}  seen {now - i['seen']:.0f}s ago")
    lines.extend(f"problem: {p}" for p in report["problems"])
    return "\n".join(lines)
