"""One connection's messages on their way to the layer: numbered, in order, bounded.

A :class:`Flow` is what an interface keeps per connection (a WebSocket, an IRC network)
whose messages share a ``reply_channel``:

- it numbers them (``__seq__``), so workers run them one at a time and in order however
  many workers there are (see :mod:`gateways.layers.ordering`);
- it sends them one after another, never two at once, so they enter the layer in order;
- it keeps at most ``window`` of them unfinished (sent but not yet handled by a worker):
  beyond that it pauses the connection (the transport stops reading; TCP holds the rest)
  and resumes once a worker has worked through half of them;
- when the channel is full it pauses and tries again, instead of failing a connection
  that is already open: a burst from one client is absorbed by TCP, and a full shared
  channel is never a reason to close somebody else. The first message of a connection is
  *new work*: if it finds the channel full, the connection is refused as before. A
  *notice* (a disconnect) is not waited for either: its connection is gone, nothing is
  slowed by waiting, and an app may leave it unrouted, so its channel may stay full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateways.layers.errors import ChannelFull
from gateways.layers.ordering import LAST_KEY, SEQ_KEY

if TYPE_CHECKING:
    from gateways.interface import Interface

__all__ = ["Flow"]

#: Messages of one connection that may wait in the layer or run at once.
WINDOW = 32
#: Longest a message of an open connection waits for room in a full channel.
FULL_WAIT = 30.0
_FIRST_PAUSE, _MAX_PAUSE = 0.01, 0.5

log = logging.getLogger("gateways.flow")


class Flow:
    def __init__(
        self,
        interface: Interface,
        group: str,
        *,
        pause: Callable[[], Any],
        resume: Callable[[], Any],
        failed: Callable[[str, Exception], Any],
        window: int = WINDOW,
    ) -> None:
        self.interface = interface
        self.group = group
        self.window = window
        self._pause, self._resume, self._failed = pause, resume, failed
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._notices: set[int] = set()  # numbers of the queued notices
        self._task: asyncio.Task[None] | None = None
        self._next = 0  # the number the next message gets
        self._ended = -1  # the last number known to have ended in a worker
        self._woken: asyncio.Event | None = None
        self._holds: set[str] = set()  # why reading is paused now
        self._finishing = False
        self.closed = False

    # -- what the interface calls ----------------------------------------------------------

    def send(self, channel: str, message: dict[str, Any], *, notice: bool = False) -> None:
        """Queue ``message`` for ``channel``; it goes out after every earlier one. A
        ``notice`` that finds the channel full fails at once instead of waiting."""
        if self.closed:
            return
        if notice:
            self._notices.add(self._next)
        self._queue.append((channel, {**message, SEQ_KEY: self._next}))
        self._next += 1
        if self._task is None or self._task.done():
            self._task = self.interface.spawn(self._run(), f"flow {self.group}")

    def progress(self, ended: int) -> None:
        """A worker says messages up to ``ended`` have been handled (a wake-up)."""
        self._ended = max(self._ended, ended)
        if self._woken is not None:
            self._woken.set()

    def finish(self) -> None:
        """No more messages: send what is queued, then let the interface forget the flow.
        The last one is marked (``__last__``): its group's record goes once it ended."""
        self._finishing = True
        if not self._queue:
            self.close()
            return
        self._queue[-1][1][LAST_KEY] = True

    def close(self) -> None:
        """Stop now: what is still queued is not sent."""
        self.closed = True
        self._queue.clear()
        self._notices.clear()
        self.interface.flows.pop(self.group, None)
        if self._woken is not None:
            self._woken.set()

    @property
    def pending(self) -> int:
        """Messages queued here, or sent and not yet known to have ended."""
        return self._next - 1 - self._ended

    # -- the sender ------------------------------------------------------------------------

    async def _run(self) -> None:
        while self._queue and not self.closed:
            channel, message = self._queue[0]
            try:
                await self._send(channel, message)
            except Exception as exc:
                # What failed and what queued behind it never reach the layer: their
                # numbers are given again, or the workers would wait order_timeout for
                # them before running the connection's next message (its disconnect).
                self._queue.clear()
                self._notices.clear()
                self._next = message[SEQ_KEY]
                self._failed(channel, exc)  # may queue that next message at once
            else:
                self._queue.popleft()
                self._notices.discard(message[SEQ_KEY])
                last = self._finishing and not self._queue
                if not last and message[SEQ_KEY] - self._ended >= self.window:
                    await self._wait_for_room(message[SEQ_KEY] - self.window // 2)
            if self._finishing and not self._queue:
                self.close()

    async def _send(self, channel: str, message: dict[str, Any]) -> None:
        """Send, waiting (paused) while the channel is full, unless this opens the flow."""
        layer = self.interface.layer
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + FULL_WAIT, _FIRST_PAUSE
        try:
            while True:
                try:
                    await layer.send(channel, message)
                    return
                except ChannelFull:
                    number = message[SEQ_KEY]
                    if number == 0 or number in self._notices or loop.time() + pause > deadline:
                        raise
                self._hold("full")
                await asyncio.sleep(pause)  # the consumers catch up; TCP holds the client
                pause = min(_MAX_PAUSE, pause * 2)
        finally:
            self._release("full")

    async def _wait_for_room(self, target: int) -> None:
        """Pause the connection until message ``target`` has ended in a worker. A wake-up
        that never comes (lost with a killed worker) costs at most ``order_timeout``
        twice: the flow asks again, then goes on."""
        layer = self.interface.layer
        self._hold("window")
        self._woken = asyncio.Event()
        try:
            for _ in range(2):
                try:
                    if await layer.order_wait(self.group, target):
                        self._ended = max(self._ended, target)
                except (ConnectionError, OSError) as exc:  # the next send will say more
                    log.warning("%s: cannot ask the layer (%s); reading on", self.group, exc)
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(layer.order_timeout):
                        while self._ended < target and not self.closed:
                            await self._woken.wait()
                            self._woken.clear()
                if self._ended >= target or self.closed:
                    return
            log.warning("%s: no worker finished message %d; reading on", self.group, target)
        finally:
            self._woken = None
            self._release("window")

    def _hold(self, why: str) -> None:
        if not self._holds:
            self._pause()
        self._holds.add(why)

    def _release(self, why: str) -> None:
        if why not in self._holds:
            return
        self._holds.discard(why)
        if not self._holds and not self.closed:
            self._resume()
