"""The receive loop every long-lived reader of a layer needs, outages included.

Workers and interface processes read the layer for as long as they run. When the layer
goes away (Redis restarting) a receive raises ``ConnectionError``; the loop must not die,
nor spin, nor hide the outage: it logs, pauses with a growing back-off, and carries on
as soon as the layer answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from gateways import metrics
from gateways.health import ping
from gateways.layers.base import BaseChannelLayer

log = logging.getLogger("gateways.layers")

#: Longest pause between attempts while the layer is unreachable.
MAX_BACKOFF_SECONDS = 5.0


async def receive_forever(
    layer: BaseChannelLayer,
    channels: Sequence[str] | Callable[[], Sequence[str]],
    *,
    name: str,
    timeout: float | None = None,
    stopping: asyncio.Event | None = None,
    room: Callable[[], int] | None = None,
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Yield ``(channel, message)`` from ``channels`` until ``stopping`` is set.

    ``timeout`` bounds each receive, so a set ``stopping`` is seen within that time;
    without ``stopping`` the loop ends only when its task is cancelled. ``room`` says how
    many messages the caller can start at once: then one round trip may take that many
    (``receive_many``); the caller must start each one it is given right away.
    ``channels`` may be a callable, asked again before each receive (an interface
    stops reading its work channels while it is busy or draining).
    """
    fixed = None if callable(channels) else list(channels)
    backoff = 0.0
    while stopping is None or not stopping.is_set():
        names = fixed if fixed is not None else list(channels())  # type: ignore[operator]
        try:
            if backoff:  # a quick round trip first: a blocking receive may wait long
                await ping(layer, names[0] if names else "gateways.ping")
                backoff = 0.0
                log.info("%s: layer reachable again", name)
                metrics.RECONNECTS.inc()
            found: Sequence[tuple[str, dict[str, Any]] | tuple[None, None]]
            if room is None:
                found = [await layer.receive(names, timeout)]
            else:
                found = await layer.receive_many(names, max(1, room()), timeout)
        except (ConnectionError, OSError) as exc:
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2 or 0.1)
            log.warning("%s: layer unreachable (%s); retrying in %.1fs", name, exc, backoff)
            await _pause(backoff, stopping)
            continue
        for channel, message in found:
            if channel is not None and message is not None:
                yield channel, message


async def _pause(seconds: float, stopping: asyncio.Event | None) -> None:
    if stopping is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
