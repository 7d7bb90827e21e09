"""The communicator base: a consumer driven in-process through the real worker.

No server runs. The communicator puts the messages an interface would put on a layer
(``memory://`` unless given one), and a real :class:`gateways.worker.Worker` takes them,
picks the consumer with the real routing and runs it, with the installed plugins' hooks
(an unrouted HTTP request gets its 404, a failed one its 500). What the consumer sends
is recorded: replies, sends to other channels, group sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from fnmatch import fnmatchcase
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from gateways.layers import BaseChannelLayer, get_layer
from gateways.layers.ordering import PROGRESS_KEY, SEQ_KEY
from gateways.plugins import get_plugin_host
from gateways.routing import Include, Route, Router, Routing, load_routing, route
from gateways.testing.recording import RecordingLayer, Sent, WatchedRouting
from gateways.worker import Worker

T = TypeVar("T")

#: What a communicator drives: a list of routes, a router object, a ``module:attribute``
#: path to one of those, or a single consumer (routed from the protocol's channels).
App = Sequence[Route | Include] | Routing | str | Any

#: Seconds any wait of a communicator lasts before it fails, unless told otherwise.
TIMEOUT = 5.0


def as_routing(app: App, channels: Iterable[str]) -> Routing:
    """``app`` as something a worker matches on; a bare consumer gets every channel."""
    if isinstance(app, str | list | tuple | Routing):
        return load_routing(app)
    if callable(app):
        return Router([route(channel, app) for channel in channels])
    raise TypeError(f"expected routes, a router, 'module:attribute' or a consumer, got {app!r}")


class ConsumerError(AssertionError):
    """A run cannot go on: the consumer raised (the cause), or the worker stopped."""


class ApplicationCommunicator:
    """Drive ``app`` in-process: put messages on the layer, read what comes back.

    Args:
        app: Routes, a router, a ``module:attribute`` path, or one consumer.
        layer: The layer to run on (default: a fresh ``memory://`` one).
        raise_errors: Re-raise, from the awaiting call, the first exception a consumer
            raised (the worker also logs it and tells the owning plugin). False: record
            it in :attr:`errors` and let the protocol answer as a server would.
        timeout: Default seconds each wait lasts before ``TimeoutError``.

    Attributes:
        layer: The layer the messages go through.
        reply_channel: The channel consumers answer on (once started; None before).
        errors: Exceptions consumers raised, in order.
        sends: Every ``send`` consumers made (replies included), as :class:`Sent`.
        group_messages: Every ``group_send`` consumers made, as :class:`Sent`.
    """

    #: The channels a bare consumer is routed from (set by each protocol).
    channels: tuple[str, ...] = ()
    #: Prefix of the reply channel (None: the protocol has no replies).
    reply_prefix: str | None = "test.reply"
    #: Whether inputs are numbered (``__seq__``) as an interface's flow numbers one
    #: connection's messages, so the worker runs them one at a time and in order.
    numbered = False

    def __init__(
        self,
        app: App,
        *,
        layer: BaseChannelLayer | None = None,
        raise_errors: bool = True,
        timeout: float = TIMEOUT,
    ) -> None:
        self.routing = as_routing(app, self.channels)
        self.layer = layer if layer is not None else get_layer("memory://")
        self.raise_errors = raise_errors
        self.timeout = timeout
        self.reply_channel: str | None = None
        self.errors: list[BaseException] = []
        self.sends: list[Sent] = []
        self.group_messages: list[Sent] = []
        self._changed = asyncio.Event()
        self._failed = asyncio.Event()
        self._recording = RecordingLayer(self.layer, self._record)
        self._worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None
        self._seq = 0

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Take a reply channel and start the worker (done by the first send anyway)."""
        if self.reply_prefix and self.reply_channel is None:
            self.reply_channel = await self.layer.new_channel(self.reply_prefix)
        if self._task is None:
            watched = WatchedRouting(self.routing, self._consumer_failed)
            layer = cast(BaseChannelLayer, self._recording)
            self._worker = Worker(layer, watched, get_plugin_host(), name="communicator")
            self._task = asyncio.get_running_loop().create_task(self._worker.run(grace=5))

    async def stop(self) -> None:
        """Stop the worker once the consumers in flight finished (idempotent)."""
        task, worker = self._task, self._worker
        if task is None or worker is None or task.done():
            return
        worker.stop()
        task.cancel()  # ends its wait for messages at once; the drain still runs
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            raise ConsumerError("the communicator's worker failed") from task.exception()

    @property
    def running(self) -> bool:
        """Whether the worker runs (started and not stopped)."""
        return self._task is not None and not self._task.done()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- messages in and out -----------------------------------------------------------

    async def send_input(self, channel: str, message: dict[str, Any]) -> None:
        """Put ``message`` on ``channel``, as an interface would (starts the worker)."""
        await self.start()
        if self.numbered:
            message = {**message, SEQ_KEY: self._seq}
            self._seq += 1
        await self.layer.send(channel, message)

    async def receive_output(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message on :attr:`reply_channel`; ``TimeoutError`` if none comes."""
        await self.start()
        channel = self.reply_channel
        if channel is None:
            raise TypeError(f"{type(self).__name__} has no reply channel")
        while True:
            _, message = await self.guard(self.layer.receive([channel]), timeout, "a reply")
            if message is not None and PROGRESS_KEY not in message:  # not a flow wake-up
                return dict(message)

    async def receive_nothing(self, timeout: float = 0.05) -> bool:
        """True when no reply is waiting once the consumers are idle (see
        :meth:`wait_idle`) and none arrives within ``timeout`` more seconds."""
        await self.wait_idle()
        channel = self.reply_channel
        if channel is None:
            return True
        found, _ = await self.layer.receive([channel], timeout=timeout)
        return found is None

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Return once every message on the routed channels was handled."""
        await self.guard(self._idle(), timeout, "the consumers to finish")

    async def _idle(self) -> None:
        worker = self._worker
        if worker is None:
            return
        while True:
            if worker.in_flight == 0:
                done = self._done(worker)
                waiting = await self._waiting(worker.channels)
                if not waiting and worker.in_flight == 0 and self._done(worker) == done:
                    return
            await asyncio.sleep(0.005)  # a poll of the worker's counters, not a delay

    async def _waiting(self, channels: list[str]) -> int:
        """Messages waiting on ``channels`` (0 from a layer that cannot tell)."""
        try:
            figures = await self.layer.channel_figures(channels)
        except NotImplementedError:
            return 0
        return sum(f["depth"] for f in figures.values())

    @staticmethod
    def _done(worker: Worker) -> int:
        return worker.handled + worker.failed + worker.expired

    async def guard(
        self, awaitable: Awaitable[T], timeout: float | None = None, what: str = "a result"
    ) -> T:
        """Await ``awaitable`` within ``timeout``; a consumer's exception (when
        ``raise_errors``) or the worker's end interrupts it."""
        limit = self.timeout if timeout is None else timeout
        task = asyncio.ensure_future(awaitable)
        watch: set[asyncio.Future[Any]] = {task}
        failed = asyncio.ensure_future(self._failed.wait())
        watch.add(failed)
        if self._task is not None:
            watch.add(self._task)
        try:
            done, _ = await asyncio.wait(watch, timeout=limit, return_when="FIRST_COMPLETED")
        finally:
            failed.cancel()
        if task in done and not (self.raise_errors and self.errors):
            return task.result()
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: the consumer's error is the one to tell
        self._raise_error()
        if task.done() and not task.cancelled():
            return task.result()
        if self._task is not None and self._task.done():
            raise ConsumerError(f"the communicator's worker stopped while waiting for {what}")
        raise TimeoutError(f"waited {limit} s for {what} in vain")

    def _raise_error(self) -> None:
        if self.raise_errors and self.errors:
            error = self.errors[0]
            raise error.with_traceback(error.__traceback__)

    # -- what consumers sent -----------------------------------------------------------

    def _record(self, kind: str, target: str, message: dict[str, Any]) -> None:
        (self.sends if kind == "send" else self.group_messages).append(Sent(target, message))
        self._changed.set()
        self._changed = asyncio.Event()

    def _consumer_failed(self, error: BaseException) -> None:
        self.errors.append(error)
        if self.raise_errors:
            self._failed.set()

    def sent(self, channel: str) -> list[dict[str, Any]]:
        """Messages consumers sent to ``channel`` (a shell glob such as
        ``"irc-client.*"`` matches several), in order."""
        return [s.message for s in self.sends if fnmatchcase(s.target, channel)]

    def group_sends(self, group: str) -> list[dict[str, Any]]:
        """Messages consumers sent to ``group`` with ``group_send``, in order."""
        return [s.message for s in self.group_messages if fnmatchcase(s.target, group)]

    async def wait_sent(
        self, channel: str, count: int = 1, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """Wait until consumers sent ``count`` messages to ``channel``; return them all."""

        async def enough() -> list[dict[str, Any]]:
            while len(found := self.sent(channel)) < count:
                await self._changed.wait()
            return found

        return await self.guard(enough(), timeout, f"{count} message(s) sent to {channel}")
