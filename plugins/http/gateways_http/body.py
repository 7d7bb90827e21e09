"""Streaming a large request body to the consumer over ``body_channel``, bounded.

The body travels in chunks of at most :data:`CHUNK` bytes (well under the layer's
message limit). Two bounds keep a slow consumer from making anyone hold the body:

- at most :data:`WINDOW` chunks wait unread in ``body_channel``: past that the pump asks
  the layer how many are left (``channel_figures``) until the consumer has read half;
- at most :data:`HIGH_WATER` bytes wait here to be sent: past that the connection stops
  reading, and TCP holds the rest at the client.

A stream always ends: a body cut off (the client left, it grew past ``--http-max-body``,
its chunked framing broke, the connection closed first) ends with
``{"content": b"", "more_content": False, "error": reason}``, so a consumer's read loop
finishes. Nothing goes out before the ``http.request`` that names the channel is in the
layer (:meth:`BodyPump.release`); if it never gets there, nothing goes out at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from gateways.plugin import ChannelFull, LayerUnavailable, MessageTooLarge, Throttled

if TYPE_CHECKING:
    from gateways.layers.base import BaseChannelLayer

log = logging.getLogger("gateways.http")
_throttled = Throttled(log)

#: Bytes per layer message for bodies: a quarter of the default 1 MiB limit.
CHUNK = 256 * 1024
#: Unsent body bytes held here above which the connection stops reading.
HIGH_WATER = 2 * CHUNK
#: Chunks that may wait unread in ``body_channel``.
WINDOW = 4
MAX_PAUSE = 1.0
#: Longest pause between two looks at how much of the body the consumer has read.
MAX_POLL = 0.1

#: The ``error`` of a stream cut off: why the body ends early.
CLIENT_LEFT = "client disconnected"
TOO_LARGE = "body too large"
MALFORMED = "malformed body"
CLOSED = "connection closed"

_UNREACHABLE = (LayerUnavailable, ConnectionError, OSError, MessageTooLarge)


class BodyPump:
    """One body's way to ``body_channel``: ``push`` bytes as they arrive, then ``finish``
    (the body is whole) or ``abort`` (it never will be); ``cancel`` drops it silently.

    ``failed`` is called when the body cannot be delivered (the consumer reads nothing
    for ``give_up_after`` seconds, or the layer refuses it): the request must end.
    """

    def __init__(
        self,
        layer: BaseChannelLayer,
        channel: str,
        pause: Callable[[bool], None],
        give_up_after: float,
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]],
        failed: Callable[[], None],
    ) -> None:
        self.layer = layer
        self._spawn = spawn  # the interface's: supervised, and waited for by a drain
        self.channel = channel
        self._pause = pause
        self._give_up_after = give_up_after
        self._failed = failed
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._queue: deque[dict[str, Any]] = deque()
        self._queued = 0
        self._sending = 0  # bytes of the message being sent now
        self._task: asyncio.Task[None] | None = None
        self._released = False
        self._paused = False
        self._wake = asyncio.Event()
        #: Chunks sent and not yet read by the consumer (as last counted).
        self.unread = 0
        #: No more body will be queued: finished, aborted or cancelled.
        self.ended = False

    # -- what the connection calls ---------------------------------------------------

    @property
    def held(self) -> int:
        """Body bytes held here, not yet in the layer."""
        return self._buffered + self._queued + self._sending

    def push(self, data: bytes) -> None:
        if self.ended:
            return
        self._buffer.append(data)
        self._buffered += len(data)
        while self._buffered >= CHUNK:
            joined = b"".join(self._buffer)
            self._buffer = [joined[CHUNK:]]
            self._buffered = len(joined) - CHUNK
            self._enqueue({"content": joined[:CHUNK], "more_content": True})

    def finish(self) -> None:
        """The body is complete: send what is left as the last chunk."""
        if self.ended:
            return
        last = b"".join(self._buffer)
        self._buffer, self._buffered = [], 0
        self._enqueue({"content": last, "more_content": False})
        self.ended = True

    def abort(self, reason: str) -> None:
        """The body will never be complete: what is not sent yet is dropped, and the
        stream ends with ``error``: ``reason``."""
        if self.ended:
            return
        self.ended = True
        self._buffer, self._buffered = [], 0
        self._queue.clear()
        self._queued = 0
        self._wake.set()  # a wait for the reader ends now
        self._enqueue({"content": b"", "more_content": False, "error": reason})

    def cancel(self) -> None:
        """Drop everything, send nothing more (nobody will read the channel)."""
        self._drop()
        if self._task is not None:
            self._task.cancel()

    def _drop(self) -> None:
        self.ended = True
        self._buffer, self._buffered = [], 0
        self._queue.clear()
        self._queued = 0
        self._set_paused(False)

    def release(self) -> None:
        """``http.request`` is in the layer: the body may follow it."""
        self._released = True
        self._start()

    # -- the sender ------------------------------------------------------------------

    def _enqueue(self, message: dict[str, Any]) -> None:
        self._queue.append(message)
        self._queued += len(message["content"])
        if self._queued > HIGH_WATER:
            self._set_paused(True)
        self._start()

    def _start(self) -> None:
        if self._released and self._queue and (self._task is None or self._task.done()):
            self._task = self._spawn(self._run(), f"body of {self.channel}")

    def _set_paused(self, on: bool) -> None:
        if on != self._paused:
            self._paused = on
            self._pause(on)

    async def _run(self) -> None:
        try:
            while self._queue:
                message = self._queue.popleft()
                size = len(message["content"])
                self._queued -= size
                self._sending = size
                sent = await self._send(message)
                self._sending = 0
                if self._queued <= HIGH_WATER // 2:
                    self._set_paused(False)
                if not sent:
                    self._give_up()
                    return
                if message["more_content"]:
                    self.unread += 1
                    if self.unread >= WINDOW and not await self._wait_for_reader():
                        self._give_up()
                        return
        finally:
            self._sending = 0

    def _give_up(self) -> None:
        self._drop()
        self._failed()

    async def _send(self, message: dict[str, Any]) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._give_up_after
        pause = 0.01
        while True:
            try:
                await self.layer.send(self.channel, message)
                return True
            except ChannelFull:
                if loop.time() + pause > deadline:
                    _throttled.warning("full", "body channel %s stayed full", self.channel)
                    return False
                await asyncio.sleep(pause)  # back-pressure: the consumer reads slower
                pause = min(MAX_PAUSE, pause * 2)
            except _UNREACHABLE as exc:
                _throttled.error("send", "sending a body chunk on %s failed: %s", self.channel, exc)
                return False

    async def _wait_for_reader(self) -> bool:
        """Until the consumer has read half the window (True), or gave no sign of reading
        for ``give_up_after`` seconds (False). The end of the body ends the wait (True)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._give_up_after
        pause = 0.005
        while True:
            self._wake.clear()
            if self._queue and not self._queue[0]["more_content"]:
                return True  # the last message (or the cut-off marker) goes out now
            try:
                figures = await self.layer.channel_figures([self.channel])
            except NotImplementedError:
                return True  # a layer that cannot count: its capacity is the bound
            except _UNREACHABLE as exc:
                _throttled.error("figures", "cannot count %s: %s", self.channel, exc)
                return False
            depth = figures[self.channel]["depth"]
            if depth < self.unread:
                deadline = loop.time() + self._give_up_after  # the consumer reads
            self.unread = depth
            if depth <= WINDOW // 2:
                return True
            if loop.time() > deadline:
                _throttled.warning(
                    "unread",
                    "nobody read %s for %gs: body dropped",
                    self.channel,
                    self._give_up_after,
                )
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()
            pause = min(MAX_POLL, pause * 2)
