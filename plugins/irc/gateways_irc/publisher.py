"""Putting IRC events on the layer in the order they happened.

Event handlers of the ``irc`` package are plain callbacks; they hand each message to
this queue, and one task sends them one after another. IRC has no way to push back,
so a full channel or an unreachable layer costs the event (logged), never the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from gateways.layers import BaseChannelLayer, ChannelFull

log = logging.getLogger("gateways.irc")


class Publisher:
    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="irc publisher")
        self._task.add_done_callback(self._done)

    @staticmethod
    def _done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("irc: the publisher crashed", exc_info=task.exception())

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        self.queue.put_nowait((channel, message))

    async def _run(self) -> None:
        while True:
            channel, message = await self.queue.get()
            try:
                await self.layer.send(channel, message)
            except ChannelFull:
                self._drop(channel, message, "the channel is full")
            except (ConnectionError, OSError, TypeError, ValueError) as exc:
                self._drop(channel, message, str(exc))
            finally:
                self.queue.task_done()

    def _drop(self, channel: str, message: dict[str, Any], why: str) -> None:
        self.dropped += 1
        log.warning(
            "irc: %s event from %s dropped: %s",
            message.get("type", channel),
            message.get("network"),
            why,
        )

    async def drain(self, timeout: float) -> None:
        """Send what is queued (within ``timeout``), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
