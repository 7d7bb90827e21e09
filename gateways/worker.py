"""The worker runtime: receive from the layer, route, run consumers.

A worker holds no connections, so it can be stopped and started at will: on SIGTERM it
stops receiving, lets the consumers in flight finish (up to ``grace`` seconds) and
returns. Messages that share a ``reply_channel`` (one WebSocket, one IRC network) run
one after another, in order: within this worker by waiting for each other, and across
workers through the layer's message groups when the interface numbered them
(``__seq__``, see :mod:`gateways.layers.ordering`). Everything else runs concurrently up
to ``concurrency``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import Awaitable, Iterable
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase
from time import perf_counter
from typing import Any

from gateways import lifespan, metrics
from gateways.health import wait_for_layer
from gateways.heartbeat import beat, identity
from gateways.layers.base import BaseChannelLayer
from gateways.layers.errors import ChannelFull
from gateways.layers.ordering import LAST_KEY, PROGRESS_KEY, SEQ_KEY
from gateways.layers.receiving import receive_batches
from gateways.logguard import Throttled
from gateways.lost import holding
from gateways.message import Message, SyncMessage
from gateways.plugins import PluginHost, gather_results
from gateways.routing import Consumer, Routing

log = logging.getLogger("gateways.worker")


#: The last message of a ``reply_channel`` this worker started (its task), and its
#: number: a plain tuple, made once per message.
_Tail = tuple[asyncio.Task[bool], int | None]


class _Slots:
    """The worker's free slots: an :class:`asyncio.Semaphore` for its one taker (the
    receive loop), which takes a free slot without a coroutine (one per message)."""

    __slots__ = ("_waiter", "free")

    def __init__(self, count: int) -> None:
        self.free = count
        self._waiter: asyncio.Future[None] | None = None

    async def take(self) -> None:
        while self.free <= 0:
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        self.free -= 1

    def give(self) -> None:
        self.free += 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _ran(task: asyncio.Task[bool]) -> bool:
    return not task.cancelled() and task.exception() is None and task.result()


#: How long one receive waits before the loop checks whether it should stop: short, so a
#: stop costs little of the grace, without cancelling a receive that may hold messages.
POLL_SECONDS = 0.25
#: Longest pause between two looks for group messages released after a worker died.
RELEASE_EVERY = 1.0
#: Groups whose last recorded end this worker remembers (see ``Worker._ended``).
ENDED_KEPT = 4096


def select_channels(
    channels: Iterable[str], only: Iterable[str] = (), exclude: Iterable[str] = ()
) -> list[str]:
    """Apply ``--only-channels`` first, then ``--exclude-channels`` (shell globs)."""
    only, exclude = list(only), list(exclude)
    chosen = [c for c in channels if not only or any(fnmatchcase(c, g) for g in only)]
    return sorted(c for c in chosen if not any(fnmatchcase(c, g) for g in exclude))


def is_async_consumer(consumer: Consumer) -> bool:
    call = getattr(consumer, "__call__", None)  # noqa: B004 - callable objects too
    return inspect.iscoroutinefunction(consumer) or inspect.iscoroutinefunction(call)


class Worker:
    def __init__(
        self,
        layer: BaseChannelLayer,
        routing: Routing,
        plugins: PluginHost,
        *,
        only_channels: Iterable[str] = (),
        exclude_channels: Iterable[str] = (),
        concurrency: int = 64,
        name: str = "worker",
    ) -> None:
        self.layer = layer
        self.routing = routing
        self.plugins = plugins
        self.name = name
        self.channels = select_channels(routing.channels, only_channels, exclude_channels)
        #: Channels of an ordered family this app leaves unrouted (see ChannelSpec):
        #: taken and ended at once, so the family's other messages do not wait for them.
        self.siblings = frozenset(
            c for c in plugins.ordered_siblings(self.channels) if c not in routing.channels
        )
        self.channels = sorted({*self.channels, *self.siblings})
        self.concurrency = concurrency
        self._slots = _Slots(concurrency)
        self._loop: asyncio.AbstractEventLoop  # the running one, once served
        self._stopping = asyncio.Event()
        #: Messages in flight: each task, with the ``reply_channel`` it holds (or None).
        self._tasks: dict[asyncio.Task[Any], str | None] = {}
        #: Those of them that took no slot (released group messages).
        self._slotless: set[asyncio.Task[Any]] = set()
        self._tails: dict[str, _Tail] = {}
        #: The last message of a group whose end this worker recorded in the layer, by
        #: group, newest last: its successor here needs no ``order_begin`` round trip.
        self._ended: dict[str, int] = {}
        self._unrouted_seen: set[str] = set()
        self._async: dict[Any, bool] = {}
        self._threads = ThreadPoolExecutor(min(concurrency, 32), thread_name_prefix=name)
        self._identity = identity(name)
        self._grace: float | None = None
        #: Messages whose consumer returned, whose consumer raised, and those dropped
        #: unrun because their sender had given up on them (past ``__deadline__``).
        self.handled = self.failed = self.expired = 0
        self._late = Throttled(log)

    async def run(self, grace: float = 30.0) -> None:
        """Handle messages until :meth:`stop`, then finish what is in flight; the
        consumers' lifespans (:mod:`gateways.lifespan`) run around it."""
        if not self.channels:
            raise ValueError(
                f"{self.name}: no channel left to receive on (routes consume "
                f"{sorted(self.routing.channels)}; check --only-channels/--exclude-channels)"
            )
        async with lifespan.running(self.routing):
            await self._serve(grace)
        log.info("%s stopped", self.name)

    async def _serve(self, grace: float) -> None:
        if await wait_for_layer(self.layer, self.name, self._stopping):  # ready: it answers
            log.info("%s ready, receiving on %s", self.name, ", ".join(self.channels))
        self._loop = loop = asyncio.get_running_loop()
        releaser = loop.create_task(self._release_loop())
        beating = loop.create_task(beat(self.layer, "worker", self.record, self._stopping))
        try:
            await self._receive_loop()
        finally:
            self._stopping.set()  # also when the loop failed: the heartbeat ends with it
            releaser.cancel()
            await beating  # gone from `gateways status` before the drain: takes no more
            await self._drain(grace if self._grace is None else self._grace)
            self._threads.shutdown(wait=False, cancel_futures=True)

    def record(self) -> dict[str, Any]:
        """This worker's heartbeat: who, where, what it receives and how it fares."""
        return {
            **self._identity,
            "channels": self.channels,
            "concurrency": self.concurrency,
            "in_flight": len(self._tasks),
            "holding": holding(self._tails),
            "handled": self.handled,
            "failed": self.failed,
            "expired": self.expired,
        }

    def stop(self, grace: float | None = None) -> None:
        """Stop taking messages; those in flight get ``grace`` seconds (default: as run)."""
        self._grace = grace
        self._stopping.set()

    @property
    def stopping(self) -> asyncio.Event:
        """Set once :meth:`stop` was called (what a metrics port's readiness reads)."""
        return self._stopping

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def _receive_loop(self) -> None:
        # A slot is taken before each receive: a busy worker leaves messages to others.
        slots = self._slots
        await slots.take()
        async for found in receive_batches(
            self.layer,
            self.channels,
            name=self.name,
            timeout=POLL_SECONDS,
            stopping=self._stopping,
            room=self._room,  # ready messages come several per round trip when slots allow
        ):
            for channel, content in found:
                self._start(channel, content)
                if slots.free > 0:
                    slots.free -= 1
                else:
                    await slots.take()
        slots.give()

    async def _release_loop(self) -> None:
        """Run the parked group messages whose predecessor's worker died (the layer
        releases them after ``order_timeout``); any live worker may take them."""
        interval = min(RELEASE_EVERY, self.layer.order_timeout / 4)
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
            if self._stopping.is_set():
                return  # a stopping worker takes nothing more: another one releases them
            try:
                released = await self.layer.order_release()
            except (ConnectionError, OSError) as exc:
                log.debug("%s: no release check (%s)", self.name, exc)
                continue
            for group, (channel, content) in released:
                log.warning("%s: %s: the message before is overdue; going on", self.name, group)
                await self._take_released(channel, content)

    async def _take_released(self, channel: str, content: dict[str, Any]) -> None:
        if channel in self.channels:
            self._start(channel, content, released=True)
        else:  # its predecessor is marked ended: whoever takes it runs it at once
            await self._requeue(channel, content)

    async def _requeue(self, channel: str, content: dict[str, Any]) -> None:
        """Give a group's message of a channel this worker does not serve back to it."""
        try:
            await self.layer.send(channel, content)
        except (ChannelFull, ConnectionError, OSError) as exc:
            log.error(
                "%s: a message of %s for another worker is lost (%s)", self.name, channel, exc
            )

    def _room(self) -> int:
        """Messages this worker can start now (the slot taken for the receive included)."""
        return self.concurrency - len(self._tasks)

    def _start(self, channel: str, content: dict[str, Any], released: bool = False) -> None:
        """Run one message in a task of its own; messages of one ``reply_channel`` wait
        for the one before them here, and (numbered ones) across workers in the layer."""
        found = content.get("reply_channel")
        key = found if isinstance(found, str) else None
        seq = content.get(SEQ_KEY) if key else None
        if not isinstance(seq, int) or self.layer.durable[channel]:
            seq = None  # durable channels keep their own (at least once) rules
        before = self._tails.get(key) if key else None
        if metrics.ON:
            metrics.RECEIVED.inc(metrics.channel_label(channel))
        if before is None and seq is None:  # nothing to wait for nor to record: run it
            work = self._run(channel, content)
        else:
            work = self._handle(channel, content, before, key, seq, released)
        task = self._loop.create_task(work)
        self._tasks[task] = key
        if key:
            self._tails[key] = (task, seq)
        if released:
            self._slotless.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        key = self._tasks.pop(task, None)
        if self._slotless and task in self._slotless:
            self._slotless.discard(task)
        else:
            self._slots.give()
        tail = self._tails.get(key) if key else None
        if tail is not None and tail[0] is task:
            del self._tails[key]  # type: ignore[arg-type]
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: message handling crashed", self.name, exc_info=task.exception())

    async def _drain(self, grace: float) -> None:
        if not self._tasks:
            return
        log.info("%s: finishing %d message(s) in flight", self.name, len(self._tasks))
        _, late = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in late:
            task.cancel()
        if late:
            log.warning(
                "%s: cancelled %d consumer(s) still running after %.0fs",
                self.name,
                len(late),
                grace,
            )
            await asyncio.wait(late)

    async def _handle(
        self,
        channel: str,
        content: dict[str, Any],
        before: _Tail | None,
        key: str | None,
        seq: int | None,
        released: bool,
    ) -> bool:
        """Handle a message; True when it ran (False: parked for its group)."""
        if before is not None:
            await asyncio.wait([before[0]])
        if key is None or seq is None:
            await self._run(channel, content)
            return True
        ran_before = self._ended.get(key) == seq - 1 or (
            before is not None and before[1] == seq - 1 and _ran(before[0])
        )
        if (
            seq > 0
            and not (released or ran_before)
            and not await self._begin(key, seq, channel, content)
        ):
            return False  # whoever ends seq - 1 runs it
        await self._run(channel, content)
        await self._end(key, seq, content.get(LAST_KEY) is True)
        return True

    async def _begin(self, key: str, seq: int, channel: str, content: dict[str, Any]) -> bool:
        try:
            return await self.layer.order_begin(key, seq, channel, content)
        except (ConnectionError, OSError) as exc:
            log.warning("%s: cannot check the order of %s (%s); running it", self.name, key, exc)
            return True

    async def _end(self, key: str, seq: int, last: bool = False) -> None:
        """Record the end of ``seq``; run the group's parked successors, one by one."""
        while True:
            try:
                following, wake = await self.layer.order_end(key, seq, last)
                if wake:  # the interface paused this connection until now
                    await self.layer.send(key, {PROGRESS_KEY: seq})
            except (ConnectionError, OSError, ChannelFull) as exc:
                log.warning("%s: cannot record the end of %s #%d (%s)", self.name, key, seq, exc)
                return
            self._remember_end(key, seq, last)
            if following is None:
                return
            channel, content = following
            seq, last = content[SEQ_KEY], content.get(LAST_KEY) is True
            if channel not in self.channels:  # another worker's channel: back in its queue
                await self._requeue(channel, content)
                return
            await self._run(channel, content)

    def _remember_end(self, key: str, seq: int, last: bool) -> None:
        """The layer holds ``seq`` of ``key`` as ended: if this worker takes ``seq + 1``,
        it runs it at once (any other worker asks the layer)."""
        ended = self._ended
        ended.pop(key, None)
        if last:
            return
        ended[key] = seq
        if len(ended) > ENDED_KEPT:
            del ended[next(iter(ended))]

    async def _run(self, channel: str, content: dict[str, Any]) -> bool:
        """Run one message's consumer (unless it came too late). True, as :meth:`_handle`
        returns for a message it did not park: a task may run either (see ``_ran``)."""
        message = Message(channel, content, self.layer)
        if not self._too_late(message):
            started = perf_counter()
            try:
                found = self.routing.match(channel, content)
                if found is None:
                    await self._unrouted(message)
                else:
                    await self._call_consumer(found[0], message, found[1])
                self.handled += 1
                if metrics.ON:
                    metrics.consumed(channel, perf_counter() - started, ok=True)
            except Exception as exc:
                await self._failed(message, exc, started)
        # Not reached when cancelled: an unfinished durable message is delivered again.
        if self.layer.durable[channel]:
            await self._ack(channel, content)
        return True

    async def _failed(self, message: Message, error: Exception, started: float) -> None:
        """The consumer raised: count and log it, and tell its plugin's hook."""
        channel = message.channel
        self.failed += 1
        if metrics.ON:
            metrics.consumed(channel, perf_counter() - started, ok=False)
        log.error("consumer failed on %s (%r)", channel, message, exc_info=error)
        await self._call_hook(channel, "gateways_consumer_failed", message=message, error=error)

    async def _ack(self, channel: str, content: dict[str, Any]) -> None:
        try:
            await self.layer.ack(channel, content)
        except (ConnectionError, OSError) as exc:  # the layer is failing over, say
            self._late.warning(
                f"ack {channel}",
                "%s: a message on %s was handled but not acknowledged (%s): it will "
                "be delivered again",
                self.name,
                channel,
                exc,
            )

    def _too_late(self, message: Message) -> bool:
        """Whether the sender gave up on ``message`` already (it answered its client
        503, say): running it now would do work the client was told failed."""
        deadline = message.deadline
        if deadline is None:
            return False
        late = self.layer.clock(message.channel) - deadline
        if late <= 0:
            return False
        self.expired += 1
        if metrics.ON:
            metrics.EXPIRED.inc(metrics.channel_label(message.channel))
        self._late.warning(
            message.channel,
            "%s: a message on %s came %.1f s after its sender gave up on it; dropped unrun",
            self.name,
            message.channel,
            late,
        )
        return True

    def _call_consumer(
        self, consumer: Consumer, message: Message, kwargs: dict[str, str]
    ) -> Awaitable[Any]:
        """What to await for ``consumer``: an async one's own coroutine (no frame of
        ours around it), or a sync one's run in a thread."""
        is_async = self._async.get(consumer)
        if is_async is None:
            is_async = self._async[consumer] = is_async_consumer(consumer)
        if is_async:
            own: Awaitable[Any] = consumer(message, **kwargs)
            return own
        loop = asyncio.get_running_loop()
        call = functools.partial(consumer, SyncMessage(message, loop), **kwargs)
        return loop.run_in_executor(self._threads, call)

    async def _unrouted(self, message: Message) -> None:
        if message.channel not in self._unrouted_seen and message.channel not in self.siblings:
            self._unrouted_seen.add(message.channel)
            log.warning(
                "no route matches a message on %s (%r); further ones on this channel "
                "are not logged",
                message.channel,
                message,
            )
        await self._call_hook(message.channel, "gateways_unrouted", message=message)

    async def _call_hook(self, channel: str, name: str, **kwargs: Any) -> None:
        """Ask the plugin that owns ``channel`` (its ``ChannelSpec`` produces it)."""
        try:
            await gather_results(self.plugins.owner_hook(channel, name)(**kwargs))
        except Exception:
            log.exception("plugin hook %s failed", name)
