"""Putting IRC events on the layer in the order they happened.

Event handlers of the ``irc`` package are plain callbacks; they hand each message to
this queue, and one task sends them one after another. IRC has no way to push back,
so a full channel or an unreachable layer costs the event (logged), never the link.
The sending task is a service of the interface (``daemon``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from gateways.plugin import BaseChannelLayer, ChannelFull
from gateways_irc._types import Daemon

log = logging.getLogger("gateways.irc")


class Publisher:
    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.dropped = 0

    def start(self, daemon: Daemon) -> None:
        daemon(self._run(), "irc publisher")

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

    async def flush(self, timeout: float) -> None:
        """Wait (up to ``timeout``) until what is queued has been sent."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout)
