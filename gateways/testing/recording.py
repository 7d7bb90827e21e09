"""What a communicator sees of a consumer: the sends it makes and the errors it raises.

:class:`RecordingLayer` stands in front of the real layer and notes every ``send`` and
``group_send`` (after the layer took it, as a receiver would get it: msgpack round trip).
:class:`WatchedRouting` hands the worker the consumers the real routing picked, wrapped
so a raised exception reaches the test as well as the worker.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from gateways.layers.base import BaseChannelLayer
from gateways.routing import Consumer, Match, Routing
from gateways.worker import is_async_consumer


class Sent(NamedTuple):
    """One send a consumer made: to a channel (``target``) or to a group."""

    target: str
    message: dict[str, Any]


class RecordingLayer:
    """Forwards everything to ``layer``; calls ``record(kind, target, message)`` after
    each successful ``send`` (kind ``"send"``) and ``group_send`` (kind ``"group"``)."""

    def __init__(
        self, layer: BaseChannelLayer, record: Callable[[str, str, dict[str, Any]], None]
    ) -> None:
        self._layer = layer
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layer, name)

    def _wire(self, message: Mapping[str, Any]) -> dict[str, Any]:
        layer = self._layer
        return dict(layer.deserialize(layer.serialize(message)))

    async def send(self, channel: str, message: Mapping[str, Any]) -> None:
        """Send, then record what a receiver gets."""
        await self._layer.send(channel, message)
        self._record("send", channel, self._wire(message))

    def send_now(self, channel: str, message: Mapping[str, Any]) -> bool:
        """Never at once: every send goes through :meth:`send`, to be recorded."""
        return False

    def send_soon(self, channel: str, message: Mapping[str, Any]) -> None:
        """Never begun here either: every send goes through :meth:`send`."""
        return None

    async def group_send(self, group: str, message: Mapping[str, Any]) -> None:
        """Send to the group, then record what its members get."""
        await self._layer.group_send(group, message)
        self._record("group", group, self._wire(message))


class WatchedRouting:
    """The real routing's choices, each consumer wrapped to report what it raises."""

    def __init__(self, routing: Routing, failed: Callable[[BaseException], None]) -> None:
        self.routing = routing
        self.channels = routing.channels
        self._failed = failed
        self._wrapped: dict[Consumer, Consumer] = {}

    def match(self, channel: str, message: Mapping[str, Any]) -> Match | None:
        """The real routing's match, its consumer watched."""
        found = self.routing.match(channel, message)
        if found is None:
            return None
        consumer, kwargs = found
        wrapped = self._wrapped.get(consumer)
        if wrapped is None:
            wrapped = self._wrapped[consumer] = self._wrap(consumer)
        return wrapped, kwargs

    def _wrap(self, consumer: Consumer) -> Consumer:
        failed = self._failed
        if is_async_consumer(consumer):

            async def watched_async(message: Any, **kwargs: Any) -> Any:
                try:
                    return await consumer(message, **kwargs)
                except Exception as exc:
                    failed(exc)
                    raise

            return functools.update_wrapper(watched_async, consumer)
        loop = asyncio.get_running_loop()

        def watched(message: Any, **kwargs: Any) -> Any:  # runs in a worker thread
            try:
                return consumer(message, **kwargs)
            except Exception as exc:
                loop.call_soon_threadsafe(failed, exc)
                raise

        return functools.update_wrapper(watched, consumer)
