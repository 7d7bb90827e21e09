"""Streaming a large request body to the consumer over ``body_channel``.

The body travels in chunks of at most :data:`CHUNK` bytes (well under the layer's
message limit). When the layer pushes back (``ChannelFull``), the pump retries with a
growing pause and the connection stops reading until the backlog is sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from gateways.layers.errors import ChannelFull

if TYPE_CHECKING:
    from gateways.layers.base import BaseChannelLayer

log = logging.getLogger("gateways.http")

#: Bytes per layer message for bodies: a quarter of the default 1 MiB limit.
CHUNK = 256 * 1024
#: Unsent body bytes above which the connection stops reading.
HIGH_WATER = 4 * CHUNK
MAX_PAUSE = 1.0


class BodyPump:
    def __init__(
        self,
        layer: BaseChannelLayer,
        channel: str,
        pause: Callable[[bool], None],
        give_up_after: float,
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]],
    ) -> None:
        self.layer = layer
        self._spawn = spawn  # the interface's: supervised, and waited for by a drain
        self.channel = channel
        self._pause = pause
        self._give_up_after = give_up_after
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._queue: deque[tuple[bytes, bool]] = deque()
        self._queued = 0
        self._task: asyncio.Task[None] | None = None
        self.failed = False

    def push(self, data: bytes) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        while self._buffered >= CHUNK:
            joined = b"".join(self._buffer)
            self._buffer = [joined[CHUNK:]]
            self._buffered = len(joined) - CHUNK
            self._enqueue(joined[:CHUNK], True)

    def finish(self) -> None:
        self._enqueue(b"".join(self._buffer), False)
        self._buffer, self._buffered = [], 0

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._queue.clear()

    def _enqueue(self, data: bytes, more: bool) -> None:
        self._queue.append((data, more))
        self._queued += len(data)
        if self._queued > HIGH_WATER:
            self._pause(True)
        if self._task is None or self._task.done():
            self._task = self._spawn(self._run(), f"body of {self.channel}")

    async def _run(self) -> None:
        while self._queue:
            data, more = self._queue[0]
            if not await self._send({"content": data, "more_content": more}):
                self.failed = True
                self._queue.clear()
                self._pause(False)
                return
            self._queue.popleft()
            self._queued -= len(data)
            if self._queued <= HIGH_WATER // 2:
                self._pause(False)

    async def _send(self, message: dict[str, object]) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._give_up_after
        pause = 0.01
        while True:
            try:
                await self.layer.send(self.channel, message)
                return True
            except ChannelFull:
                if loop.time() + pause > deadline:
                    log.warning("body channel %s stayed full; body dropped", self.channel)
                    return False
                await asyncio.sleep(pause)  # back-pressure: the consumer reads slower
                pause = min(MAX_PAUSE, pause * 2)
            except Exception:
                log.exception("sending a body chunk on %s failed", self.channel)
                return False
