"""The receive loop every long-lived reader of a layer needs, outages included.

Workers and interface processes read the layer for as long as they run. When the layer
goes away (Redis restarting) a receive raises ``ConnectionError``; the loop must not die,
nor spin, nor hide the outage: it logs at growing intervals, looks every quarter of a
second (quietly) whether the layer is back, and carries on as soon as it answers.
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

#: First and longest pause between reports while the layer is unreachable.
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
#: How often a pause looks (one quick round trip, not logged) whether the layer is back;
#: it also looks at once when the layer reconnects (:meth:`BaseChannelLayer.reconnected`).
PROBE_SECONDS = 0.25


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
    batches = receive_batches(
        layer, channels, name=name, timeout=timeout, stopping=stopping, room=room
    )
    async for found in batches:
        for pair in found:
            yield pair


async def receive_batches(
    layer: BaseChannelLayer,
    channels: Sequence[str] | Callable[[], Sequence[str]],
    *,
    name: str,
    timeout: float | None = None,
    stopping: asyncio.Event | None = None,
    room: Callable[[], int] | None = None,
) -> AsyncIterator[Sequence[tuple[str, dict[str, Any]]]]:
    """:func:`receive_forever`, one receive's messages at a time (never empty): a hot
    loop pays the generator's step once per round trip, not once per message. Without
    ``room`` a batch is one receive's ``(channel, message)``."""
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
            found: Sequence[tuple[str, dict[str, Any]]]
            if room is None:
                channel, message = await layer.receive(names, timeout)
                found = [] if channel is None or message is None else [(channel, message)]
            else:
                found = await layer.receive_many(names, max(1, room()), timeout)
        except (ConnectionError, OSError) as exc:
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2 or FIRST_BACKOFF_SECONDS)
            log.warning("%s: layer unreachable (%s); next report in %.1fs", name, exc, backoff)
            await _pause(backoff, layer, names[0] if names else "gateways.ping", stopping)
            continue
        if found:
            yield found


async def _pause(
    seconds: float, layer: BaseChannelLayer, channel: str, stopping: asyncio.Event | None
) -> None:
    """Until the layer answers again, ``seconds`` pass or ``stopping`` is set: it looks
    every :data:`PROBE_SECONDS`, and as soon as the layer reconnects, so a process
    resumes within a fraction of a second of the layer's return however long it had
    been gone (a worker has no traffic of its own to find out)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        if await _wait(min(left, PROBE_SECONDS), layer.reconnected(), stopping):
            return
        if loop.time() >= until:
            return  # the caller's own attempt comes next
        with contextlib.suppress(ConnectionError, OSError):
            await ping(layer, channel)
            return


async def _wait(
    seconds: float, reconnected: asyncio.Future[None], stopping: asyncio.Event | None
) -> bool:
    """Until ``seconds`` pass, the layer reconnects or ``stopping`` is set (True)."""
    ends: set[asyncio.Future[Any]] = {reconnected}  # shared: waited on, never cancelled
    if stopping is not None:
        ends.add(asyncio.ensure_future(stopping.wait()))
    try:
        await asyncio.wait(ends, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for end in ends - {reconnected}:
            end.cancel()
    return stopping is not None and stopping.is_set()
