"""Heartbeats: every worker and interface process says on the layer, every few seconds,
that it is alive and what it is doing. ``gateways status`` reads them; a record that has
lapsed (three beats missed) is a process that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from gateways import metrics
from gateways.layers.base import BaseChannelLayer

log = logging.getLogger("gateways.heartbeat")

#: Seconds between two beats; a record lives three times as long.
EVERY = 2.0


def identity(role: str) -> dict[str, Any]:
    """Where a process runs: ``name`` is unique per process (host, pid, role)."""
    host, pid = socket.gethostname(), os.getpid()
    return {"name": f"{host}:{pid}:{role}", "host": host, "pid": pid, "started": time.time()}


async def beat(
    layer: BaseChannelLayer,
    kind: str,
    record: Callable[[], dict[str, Any]],
    stopping: asyncio.Event,
    every: float = EVERY,
) -> None:
    """Write ``record()`` as a ``kind`` heartbeat until ``stopping``; then take it back.

    A layer that does not answer costs a debug line, never the process: the receive loops
    already log the outage.
    """
    name = record()["name"]
    while not stopping.is_set():
        try:
            now = {**record(), "seen": time.time()}
            sent = time.perf_counter()
            await layer.heartbeat(kind, name, now, 3 * every)
            metrics.LAYER_SECONDS.observe(time.perf_counter() - sent)  # the round trip
        except (ConnectionError, OSError) as exc:
            log.debug("no heartbeat for %s (%s)", name, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), every)
    with contextlib.suppress(ConnectionError, OSError):
        await layer.heartbeat_stop(kind, name)
