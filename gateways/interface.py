"""The runtime every protocol interface needs, written once.

A plugin's interface subclasses :class:`Interface` and writes only its protocol: how
to listen (:meth:`Interface.listen`), how to stop taking new work
(:meth:`Interface.stop_accepting`), what to close when the grace period is over
(:meth:`Interface.close_all`) and, for channels it reads, what to do with a message
(:meth:`Interface.handle`). The base class owns the rest:

- one receive loop per process for every reply channel the interface hands out
  (:meth:`Interface.reply_channel` binds a fresh channel to a callback;
  :meth:`Interface.forget` unbinds it), and one for the plain channels it consumes
  (``consumes``, or :meth:`Interface.channels`), which takes work only while one of
  ``concurrency`` slots is free; layer outages are ridden out, and a callback that
  raises is logged without stopping either loop;
- supervised tasks (:meth:`Interface.spawn` for work, :meth:`Interface.daemon` for
  services): kept, named, their exceptions logged, cancelled on stop;
- drain within one grace period: stop accepting, wait until nothing is outstanding,
  close what is left, stop the tasks;
- the ``listening on SCHEME://HOST:PORT`` line, and start failures that name the plugin,
  the address and the flag to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from gateways.dead_members import DeadMembers
from gateways.flow import WINDOW, Flow
from gateways.layers.errors import ChannelFull, LayerUnavailable, MessageTooLarge
from gateways.layers.ordering import PROGRESS_KEY
from gateways.layers.receiving import receive_batches, receive_forever
from gateways.lost import LostCallback, WorkerWatch

if TYPE_CHECKING:
    from gateways.host import Host

__all__ = ["Interface", "ReplyCallback", "StartFailed"]

T = TypeVar("T")

#: What a bound reply channel calls with each message; may return an awaitable.
ReplyCallback = Callable[[dict[str, Any]], Awaitable[None] | None]

#: Most replies one receive of the reply loop takes.
REPLY_BATCH = 100

#: How often a draining interface re-checks :meth:`Interface.outstanding` unprompted.
_QUIET_POLL_SECONDS = 0.1


class StartFailed(RuntimeError):
    """An interface could not start; the message says which, where, and what to change."""


class Interface:
    """Base class of a protocol plugin's interface (one per ``gateways serve`` process).

    Class attributes a subclass sets:

    ``name``
        Shown in logs and in ``gateways ready: ...``; also names its logger
        (``gateways.<name>``).
    ``reply_prefix``
        If set (``"http.response"``), replies come back on channels under one
        process-specific prefix and :meth:`reply_channel` hands them out.
    ``consumes``
        Plain channels this interface takes messages from (``"email.send"``); each
        is passed to :meth:`handle`, up to ``concurrency`` at once.
    """

    name: ClassVar[str] = "interface"
    reply_prefix: ClassVar[str | None] = None
    consumes: ClassVar[Sequence[str]] = ()
    concurrency: int = 1
    #: Seconds one receive waits before the loop looks again at what to receive.
    poll_seconds: ClassVar[float] = 1.0

    def __init__(self, host: Host) -> None:
        self.host = host
        self.layer = host.layer
        self.settings = host.settings
        self.log = logging.getLogger(f"gateways.{self.name}")
        self.draining = False
        self.prefix = ""
        self._callbacks: dict[str, ReplyCallback] = {}
        self.flows: dict[str, Flow] = {}
        self._persistent: set[str] = set()
        self._lost: dict[str, LostCallback] = {}
        self._counter = itertools.count(1)
        self._work: set[asyncio.Future[Any]] = set()
        self._daemons: set[asyncio.Future[Any]] = set()
        #: Messages of consumed channels being handled now.
        self.handling = 0
        self._work_loop_task: asyncio.Task[None] | None = None
        self._stop_working = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._changed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # -- what a subclass writes ---------------------------------------------------------

    async def listen(self) -> None:
        """Open listeners or connect (use :meth:`bind` and :meth:`listening`)."""

    async def stop_accepting(self) -> None:
        """Draining began: close listeners and ask open connections to finish."""

    def outstanding(self) -> int:
        """Work the drain waits for: by default, bound reply channels and consumed
        messages in flight. Call :meth:`changed` when it may have dropped."""
        return len(self._callbacks) - len(self._persistent) + self.handling

    async def close_all(self) -> None:
        """The grace period is over (or nothing is outstanding): close what is open."""

    async def handle(self, channel: str, message: dict[str, Any]) -> None:
        """One message from a consumed channel (``consumes``)."""
        self.log.warning("%s: a message on %s is not handled", self.name, channel)

    def channels(self) -> Sequence[str]:
        """The plain channels to consume now (``consumes`` unless overridden)."""
        return self.consumes

    # -- reply channels -----------------------------------------------------------------

    def reply_channel(
        self,
        callback: ReplyCallback,
        *,
        once: bool = False,
        timeout: float | None = None,
        persistent: bool = False,
        lost: LostCallback | None = None,
    ) -> str:
        """A fresh channel whose messages go to ``callback`` until :meth:`forget`.

        ``once``: forgotten after its first message (one answer per request).
        ``timeout``: forgotten after that many seconds, answered or not.
        ``persistent``: kept for the interface's life (one per IRC network, say), so a
        drain does not wait for it.
        ``lost``: called (once) if the worker running the message that answers here
        dies first (see :mod:`gateways.lost`), so the client hears now, not at the
        timeout.
        """
        channel = f"{self.prefix}{next(self._counter):x}"
        if once:
            callback = self._first_only(channel, callback)
        self._callbacks[channel] = callback
        if lost is not None:
            self._lost[channel] = lost
        if persistent:
            self._persistent.add(channel)
        if timeout is not None:
            asyncio.get_running_loop().call_later(timeout, self.forget, channel)
        return channel

    def linger(self, channel: str, callback: ReplyCallback, seconds: float) -> None:
        """Its work is over, but keep ``channel`` for ``seconds`` more: late replies go
        to ``callback`` instead of being dropped. A drain does not wait for it."""
        self.forget(channel)
        self._callbacks[channel] = callback
        self._persistent.add(channel)
        asyncio.get_running_loop().call_later(seconds, self.forget, channel)

    def _first_only(self, channel: str, callback: ReplyCallback) -> ReplyCallback:
        def deliver(message: dict[str, Any]) -> Awaitable[None] | None:
            self.forget(channel)
            return callback(message)

        return deliver

    def forget(self, channel: str) -> None:
        """Stop delivering ``channel``; replies still arriving for it are dropped."""
        if self._callbacks.pop(channel, None) is not None:
            self._lost.pop(channel, None)
            self._persistent.discard(channel)
            self._changed.set()

    def flow(
        self,
        group: str,
        *,
        pause: Callable[[], Any],
        resume: Callable[[], Any],
        failed: Callable[[str, Exception], Any],
        window: int = WINDOW,
    ) -> Flow:
        """The ordered, bounded way to the layer for the messages of one connection whose
        reply channel is ``group`` (see :mod:`gateways.flow`): ``pause``/``resume`` stop
        and restart reading the connection, ``failed(channel, error)`` is told when a
        message cannot be sent (the channel stayed full, the layer is down, too large)."""
        made = Flow(self, group, pause=pause, resume=resume, failed=failed, window=window)
        self.flows[group] = made
        return made

    def give_up_at(self, channel: str, seconds: float) -> float:
        """A deadline for a message on ``channel`` that this interface waits ``seconds``
        for (its ``__deadline__``, :data:`gateways.message.DEADLINE_KEY`): workers drop
        it unrun once it has passed, so work the client was told failed never runs.

        It is read on the layer's clock for the channel (the same for every process),
        and falls a little before the interface gives up, so a worker that starts the
        message in time has a moment left to answer."""
        margin = min(1.0, seconds / 10)
        return self.layer.clock(channel) + seconds - margin

    def changed(self) -> None:
        """Something :meth:`outstanding` counts may have finished: wake a drain."""
        self._changed.set()

    async def send(self, channel: str, message: dict[str, Any]) -> bool:
        """Put ``message`` on the layer; False (logged) when the layer refuses it or is
        unreachable, for protocols that have no way to tell their client."""
        try:
            await self.layer.send(channel, message)
        except ChannelFull:
            self.log.warning("%s: %s is full; a message is dropped", self.name, channel)
        except MessageTooLarge as exc:
            self.log.warning("%s: a message for %s is dropped: %s", self.name, channel, exc)
        except (LayerUnavailable, ConnectionError, OSError) as exc:
            self.log.error("%s: layer unavailable (%s); a message is dropped", self.name, exc)
        else:
            return True
        return False

    # -- tasks ----------------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        """Run short-lived work; a drain lets it finish until the grace period ends."""
        return self._supervise(work, name, self._work)

    def watch(self, pending: asyncio.Future[T]) -> asyncio.Future[T]:
        """Count work begun without a task (a send from
        :meth:`~gateways.layers.base.BaseChannelLayer.send_soon`) as :meth:`spawn`'s:
        a drain lets it finish until the grace period ends."""
        self._work.add(pending)
        pending.add_done_callback(self._work.discard)
        return pending

    def daemon(self, service: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        """Run a service for the interface's life; cancelled when the interface stops."""
        return self._supervise(service, name, self._daemons)

    def _supervise(
        self, coro: Coroutine[Any, Any, T], name: str | None, into: set[asyncio.Future[Any]]
    ) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        into.add(task)
        task.add_done_callback(lambda done: self._task_done(done, into))
        return task

    def _task_done(self, task: asyncio.Task[Any], into: set[asyncio.Future[Any]]) -> None:
        into.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error(
                "%s: task %s failed", self.name, task.get_name(), exc_info=task.exception()
            )

    # -- start ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the reply prefix and start its loop, :meth:`listen`, then read the
        consumed channels (so :meth:`handle` never runs before the interface listens)."""
        if self.reply_prefix:
            taken = await self.layer.new_channel(self.reply_prefix)
            self.prefix = taken[: taken.index("!") + 1]
            self.daemon(self._reply_loop(), f"{self.name} replies")
            if not self.layer.process_local:  # an embedded worker cannot die alone
                watch = WorkerWatch(self.layer, self._lost)
                self.daemon(watch.run(), f"{self.name} worker watch")
        try:
            await self.listen()
        except BaseException:
            await self._stop_tasks(0)
            raise
        if self.channels():
            self._work_loop_task = self.daemon(self._work_loop(), f"{self.name} work")

    async def bind(self, opening: Awaitable[T], *, address: str, flag: str) -> T:
        """Await ``opening`` (a listen or connect); a failure names what to change."""
        try:
            return await opening
        except Exception as exc:
            if not _is_listen_error(exc):
                raise
            errno = getattr(exc, "errno", None) or getattr(
                getattr(exc, "socketError", None), "errno", None
            )
            reason = os.strerror(errno) if errno else exc
            raise StartFailed(
                f"{self.name}: cannot listen on {address} ({reason}); choose another with {flag}"
            ) from exc

    def listening(self, scheme: str, host: str, port: int, detail: str = "") -> None:
        """Log the ``listening on SCHEME://HOST:PORT`` line tests and operators read."""
        shown = f"[{host}]" if ":" in host else host
        self.log.info("listening on %s://%s:%d%s", scheme, shown, port, detail)

    # -- the receive loops ----------------------------------------------------------------

    async def _reply_loop(self) -> None:
        """Every reply channel handed out, in one loop that nothing else holds up."""
        callbacks, flows = self._callbacks, self.flows
        dead = DeadMembers(self.layer, self.spawn, self.log, self.name)
        # Replies are taken in batches (a group_send puts one per member socket in the
        # inbox at once); each is delivered in order before the next receive.
        async for found in receive_batches(
            self.layer, [self.prefix], name=self.name, room=_reply_batch
        ):
            for channel, message in found:
                if PROGRESS_KEY in message:  # a worker caught up with a paused connection
                    if (flow := flows.get(channel)) is not None:
                        flow.progress(message[PROGRESS_KEY])
                    continue
                callback = callbacks.get(channel)
                if callback is None:  # a dead channel: a group's message takes it out
                    dead.dropped(channel, message)
                elif (pending := self._deliver(callback, channel, message)) is not None:
                    await self._settle(pending, channel)

    async def _work_loop(self) -> None:
        """Consumed channels, taken only while a slot is free: a busy interface leaves
        its work in the layer (for another process) instead of piling it up here."""
        async for channel, message in receive_forever(
            self.layer,
            self.channels,
            name=self.name,
            timeout=self.poll_seconds,
            stopping=self._stop_working,
            room=self._room,
        ):
            self.handling += 1
            self.spawn(self._handle_one(channel, message), f"{self.name} {channel}")
            while self.handling >= self.concurrency:
                self._slot_freed.clear()
                await self._slot_freed.wait()

    def _room(self) -> int:
        return self.concurrency - self.handling

    def _deliver(
        self, callback: ReplyCallback, channel: str, message: dict[str, Any]
    ) -> Awaitable[None] | None:
        """Call ``callback``; what it returned to await, if anything (most act at once:
        then no coroutine is made per reply)."""
        try:
            result = callback(message)
        except Exception:
            self.log.exception("%s: handling a message on %s failed", self.name, channel)
            return None
        return result if result is not None and inspect.isawaitable(result) else None

    async def _settle(self, pending: Awaitable[None], channel: str) -> None:
        try:
            await pending
        except Exception:
            self.log.exception("%s: handling a message on %s failed", self.name, channel)

    async def _handle_one(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await self.handle(channel, message)
        except Exception:
            self.log.exception("%s: handling a message on %s failed", self.name, channel)
        finally:
            self.handling -= 1
            self._slot_freed.set()
            self._changed.set()

    # -- drain ----------------------------------------------------------------------------

    async def drain(self, grace: float) -> None:
        """Stop accepting, wait (up to ``grace`` seconds) until nothing is outstanding,
        close what is left, stop every task."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        self.draining = True
        # Take no more work: the loop ends after its current receive (never cancelled
        # mid-receive, which could drop what a receive already took).
        self._stop_working.set()
        await self.stop_accepting()
        await self._wait_quiet(deadline)
        if self._work_loop_task is not None:
            await asyncio.wait([self._work_loop_task], timeout=self.poll_seconds + 1)
        late = self.outstanding()
        if late:
            self.log.warning("%s: closing %d unfinished after %gs", self.name, late, grace)
        await self.close_all()
        await self._stop_tasks(max(0.0, deadline - loop.time()))
        self._callbacks.clear()
        self._persistent.clear()
        self._lost.clear()

    async def _wait_quiet(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while self.outstanding() and (left := deadline - loop.time()) > 0:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, _QUIET_POLL_SECONDS))

    async def _stop_tasks(self, grace: float) -> None:
        """Let work finish within ``grace``, then cancel it and every service."""
        if self._work and grace > 0:
            await asyncio.wait(set(self._work), timeout=grace)
        doomed = [*self._work, *self._daemons]
        for task in doomed:
            task.cancel()
        if doomed:
            await asyncio.wait(doomed)


def _reply_batch() -> int:
    return REPLY_BATCH


def _is_listen_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    from twisted.internet.error import BindError  # CannotListenError's base; no reactor

    return isinstance(exc, BindError)
