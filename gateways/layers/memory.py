"""``memory://``: the in-process layer behind the embedded default.

Messages are still msgpack-encoded, so code that works here behaves the same on Redis
(no shared mutable dicts, the same errors for unsendable values and sizes).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from gateways.hookspecs import hookimpl
from gateways.layers.base import BaseChannelLayer, Message, real_channel
from gateways.layers.errors import ChannelFull
from gateways.layers.observing import ChannelFigures
from gateways.layers.url import layer_options_from_query

_Entry = tuple[float, str, bytes]  # (expires at, full channel name, data)
_CAPACITIES_KEPT = 10_000


class InMemoryChannelLayer(BaseChannelLayer):
    """A layer for one process and one event loop."""

    process_local = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._queues: dict[str, deque[_Entry]] = {}
        self._waiters: dict[str, deque[asyncio.Future[None]]] = {}
        self._groups: dict[str, dict[str, float]] = {}
        #: capacity_of() by queue (it depends on the queue alone), looked up once each.
        self._capacities: dict[str, int] = {}

    async def _send(self, channel: str, data: bytes) -> None:
        self._put(channel, data)

    async def receive_many(
        self, channels: Iterable[str], limit: int, timeout: float | None = None
    ) -> list[tuple[str, Message]]:
        """The first message to arrive, and up to ``limit - 1`` more that wait behind it
        on the same channel: a busy worker wakes once for what piled up meanwhile."""
        names, specific = self._receive_names(channels)
        if specific is not None or limit <= 1:
            return await super().receive_many(names, limit, timeout)
        channel, data = await self._receive(names, timeout)
        if channel is None or data is None:
            return []
        found = [(channel, self.deserialize(data))]
        queue = self._queues.get(real_channel(channel))
        now = time.monotonic()
        while queue and len(found) < limit:
            if queue[0][0] <= now:
                self._prune(queue, now)
            if queue:
                _, name, data = queue.popleft()
                found.append((name, self.deserialize(data)))
        return found

    def _put(self, channel: str, data: bytes, now: float | None = None) -> None:
        if now is None:
            now = time.monotonic()
        bang = channel.find("!")  # real_channel(channel), without a call on the hot path
        key = channel if bang < 0 else channel[: bang + 1]
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        elif queue and queue[0][0] <= now:
            self._prune(queue, now)
        capacity = self._capacities.get(key)
        if capacity is None:
            capacity = self.capacity_of(channel)
            if len(self._capacities) < _CAPACITIES_KEPT:
                self._capacities[key] = capacity
        if len(queue) >= capacity:
            raise ChannelFull(f"channel {channel!r} is full ({len(queue)} messages)")
        queue.append((now + self.expiry, channel, data))
        if self._waiters.get(key):
            self._wake(key)

    #: :meth:`_send` without waiting (see ``send_now``): it never waits anyway.
    _send_now = _put

    async def _receive(
        self, channels: list[str], timeout: float | None
    ) -> tuple[str, bytes] | tuple[None, None]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            ready = self._pop(channels)
            if ready is not None:
                return ready
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None, None
            await self._wait(channels, remaining)

    async def _wait(self, channels: list[str], timeout: float | None) -> None:
        """Until a message may be ready on ``channels``, or ``timeout`` passed (then
        :meth:`_receive` finds nothing and returns)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        for channel in channels:
            self._waiters.setdefault(channel, deque()).append(waiter)
        # A plain timer, not asyncio.timeout(): no cancellation to undo when it fires.
        timer = None if timeout is None else loop.call_later(timeout, _time_up, waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            # A wake-up meant for us must not be lost with us.
            if waiter.done() and not waiter.cancelled():
                for channel in channels:
                    self._wake(channel)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            for channel in channels:
                waiters = self._waiters.get(channel)
                if waiters is not None:
                    if waiter in waiters:  # a wake-up already took it (no costly ValueError)
                        waiters.remove(waiter)
                    if not waiters:
                        del self._waiters[channel]

    def _wake(self, channel: str) -> None:
        waiters = self._waiters.get(channel)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _pop(self, channels: list[str]) -> tuple[str, bytes] | None:
        now = time.monotonic()
        start = random.randrange(len(channels)) if len(channels) > 1 else 0
        for i in range(len(channels)):
            queue = self._queues.get(channels[(start + i) % len(channels)])
            if queue:
                self._prune(queue, now)
                if queue:
                    _, name, data = queue.popleft()
                    return name, data
        return None

    @staticmethod
    def _prune(queue: deque[_Entry], now: float) -> None:
        while queue and queue[0][0] <= now:
            queue.popleft()

    async def _group_add(self, group: str, channel: str) -> None:
        self._groups.setdefault(group, {})[channel] = time.monotonic() + self.group_expiry

    async def _group_discard(self, group: str, channel: str) -> None:
        members = self._groups.get(group)
        if members is not None:
            members.pop(channel, None)
            if not members:
                del self._groups[group]

    async def _group_send(self, group: str, data: bytes) -> None:
        members = self._groups.get(group)
        if not members:
            return
        now = time.monotonic()
        for channel, expires in list(members.items()):
            if expires <= now:
                del members[channel]
                continue
            try:
                self._put(channel, data, now)
            except ChannelFull:
                pass  # group delivery is best effort: one full member does not stop the rest

    async def _channel_figures(self, channels: list[str]) -> dict[str, ChannelFigures]:
        now = time.monotonic()
        figures: dict[str, ChannelFigures] = {}
        for channel in channels:
            queue = self._queues.get(real_channel(channel))
            if queue:
                self._prune(queue, now)
            oldest = now - (queue[0][0] - self.expiry) if queue else None
            figures[channel] = {
                "depth": len(queue or ()),
                "oldest_age": oldest,
                "capacity": self.capacity_of(channel),
            }
        return figures

    async def _busy_channels(self) -> list[str]:
        return [name for name, queue in self._queues.items() if queue]

    async def _flush(self) -> None:
        self._queues.clear()
        self._capacities.clear()
        self._groups.clear()


def _time_up(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def from_url(url: str, **options: Any) -> InMemoryChannelLayer:
    parts = urlsplit(url)
    if parts.netloc or parts.path not in ("", "/"):
        raise ValueError(f"memory:// takes no host or path, got {url!r}")
    return InMemoryChannelLayer(**{**layer_options_from_query(parts.query), **options})


@hookimpl
def gateways_layer_backends() -> dict[str, Any]:
    return {"memory": from_url}
