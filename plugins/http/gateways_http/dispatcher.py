"""One receive loop per process for every reply: never one blocking pop per request.

The loop receives on the bare process-specific prefix (``http.response.<client>!``),
which yields the messages of every channel under it with their full names, and hands
each to the callback registered for that name. Requests get names from a counter, so
making one costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any

from gateways.layers.base import BaseChannelLayer
from gateways.layers.receiving import receive_forever

log = logging.getLogger("gateways.http")

Callback = Callable[[dict[str, Any]], None]


class ReplyDispatcher:
    def __init__(self, layer: BaseChannelLayer, name: str = "http.response") -> None:
        self.layer = layer
        self.name = name
        self.prefix = ""
        self._callbacks: dict[str, Callback] = {}
        self._counter = itertools.count(1)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.prefix = (await self.layer.new_channel(self.name)).split("!")[0] + "!"
        self._task = asyncio.get_running_loop().create_task(self._run(), name="http-replies")
        self._task.add_done_callback(self._ended)

    def new_channel(self, callback: Callback) -> str:
        """A fresh reply channel whose messages go to ``callback``."""
        channel = f"{self.prefix}{next(self._counter):x}"
        self._callbacks[channel] = callback
        return channel

    def forget(self, channel: str) -> None:
        self._callbacks.pop(channel, None)

    async def _run(self) -> None:
        callbacks = self._callbacks
        async for channel, message in receive_forever(self.layer, [self.prefix], name="http"):
            callback = callbacks.get(channel)
            if callback is None:
                continue  # the request is gone (timed out, client left): drop the reply
            try:
                callback(message)
            except Exception:
                log.exception("handling a reply on %s failed", channel)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the HTTP reply loop died", exc_info=task.exception())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._callbacks.clear()
