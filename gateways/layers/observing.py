"""What a layer tells about itself, for ``gateways status``, metrics and health checks.

- **channel figures**: how many messages wait on a channel, how old the oldest one is,
  and its capacity (:class:`ChannelFigures`);
- **heartbeats**: every worker and interface process writes a small record on the layer
  every few seconds, with a lifetime a little longer than that; a record that is gone
  means a process that is gone. :class:`Heartbeats` keeps them in one process (the
  memory layer); the Redis layer keeps them in Redis, so any machine can read them.
"""

from __future__ import annotations

import time
from typing import Any, TypedDict

__all__ = ["ChannelFigures", "Heartbeats"]


class ChannelFigures(TypedDict):
    depth: int  # messages waiting (durable: plus those taken and not yet acknowledged)
    oldest_age: float | None  # seconds the oldest waiting message has waited
    capacity: int


class Heartbeats:
    """Heartbeat records of one process, by kind (``worker``, ``interface``) and name."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    def beat(self, kind: str, name: str, record: dict[str, Any], ttl: float) -> None:
        self._records[(kind, name)] = (time.monotonic() + ttl, record)

    def forget(self, kind: str, name: str) -> None:
        self._records.pop((kind, name), None)

    def alive(self, kind: str) -> list[dict[str, Any]]:
        now = time.monotonic()
        for key in [k for k, (until, _) in self._records.items() if until <= now]:
            del self._records[key]
        return [record for (k, _), (_, record) in sorted(self._records.items()) if k == kind]
