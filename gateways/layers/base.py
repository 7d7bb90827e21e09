"""What every channel layer shares: name rules, the wire format, capacities and the
demultiplexing of process-specific channels.

A backend subclasses :class:`BaseChannelLayer` and implements the raw operations
(``_send``, ``_receive`` and the group methods). Validation, msgpack encoding, the
capacity lookup and the ``prefix!`` buffering live here once, so every layer behaves
the same way in front of the conformance suite.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gateways import metrics
from gateways.layers import codec
from gateways.layers.errors import ChannelFull, MessageTooLarge
from gateways.layers.observing import ChannelFigures, Heartbeats
from gateways.layers.ordering import OrderBook

__all__ = [
    "GROUP_KEY",
    "BaseChannelLayer",
    "ChannelFull",
    "GroupMessage",
    "MessageTooLarge",
    "durable_matcher",
    "validate_channel_name",
    "validate_group_name",
]

MAX_NAME_LENGTH = 100
#: Default ``max_message_size``: room for an ``email.receive`` of the email plugin's
#: default 10 MiB mail (the raw mail plus its decoded parts, about twice its size).
DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024
_CHANNEL_NAME = re.compile(r"^[a-zA-Z\d\-_.]+(![a-zA-Z\d\-_.]*)?$")
_GROUP_NAME = re.compile(r"^[a-zA-Z\d\-_.]+$")

Message = dict[str, Any]

#: The reserved key :meth:`BaseChannelLayer.group_send` marks the message it fans out
#: with: the group's name, added once before the one serialization every member shares,
#: and taken out again when a member's copy is read (:class:`GroupMessage`). It tells
#: an interface which group a reply channel nobody waits on any more should leave
#: (see gateways.dead_members).
GROUP_KEY = "__group__"


class GroupMessage(dict[str, Any]):
    """A message that reached its channel through ``group_send``: equal to the message
    sent (the :data:`GROUP_KEY` mark is out), with the group's name in ``group``."""

    __slots__ = ("group",)

    group: str


def _from_group(message: Message) -> GroupMessage:
    group = message.pop(GROUP_KEY)
    found = GroupMessage(message)
    found.group = group
    return found


_ALLOWED = "use ASCII letters, digits, '-', '_' and '.'"


def _check_name(kind: str, name: object, pattern: re.Pattern[str], hint: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a str, not {type(name).__name__}: {name!r}")
    if len(name) >= MAX_NAME_LENGTH:
        raise ValueError(f"{kind} name is {len(name)} characters; the limit is under 100")
    if not pattern.match(name):
        raise ValueError(f"invalid {kind} name {name!r}: {hint}")
    return name


#: Channel names found valid, for the names a process uses over and over (``http.request``,
#: its ``prefix!`` inbox): checked once (those to send to, those to receive on). One-off
#: ``prefix!suffix`` names are not kept, but their ``prefix!`` is: a reply channel of a
#: known prefix with a plain suffix (letters and digits, as reply channels have) is valid.
_valid_names: tuple[set[str], set[str]] = (set(), set())
_valid_prefixes: set[str] = set()
_VALID_NAMES_KEPT = 4096


def validate_channel_name(name: object, *, receive: bool = False) -> str:
    """Return ``name`` if it is a valid channel name, else raise a clear error.

    Only a receiver may name a bare ``prefix!`` (every channel of that process prefix).
    """
    if type(name) is str:
        if name in _valid_names[receive]:
            return name
        bang = name.find("!")
        if bang > 0 and len(name) < MAX_NAME_LENGTH and name[: bang + 1] in _valid_prefixes:
            suffix = name[bang + 1 :]
            if suffix.isascii() and suffix.isalnum():
                return name
    checked = _validate_channel_name(name, receive)
    bang = checked.find("!")
    if bang < 0 or bang == len(checked) - 1:
        known = _valid_names[receive]
        if len(known) < _VALID_NAMES_KEPT:
            known.add(checked)
    elif len(_valid_prefixes) < _VALID_NAMES_KEPT:
        _valid_prefixes.add(checked[: bang + 1])
    return checked


def _validate_channel_name(name: object, receive: bool) -> str:
    hint = _ALLOWED + ", with at most one '!' for process-specific channels"
    checked = _check_name("channel", name, _CHANNEL_NAME, hint)
    if checked.endswith("!") and not receive:
        raise ValueError(f"cannot send to {checked!r}: a process-specific name needs a suffix")
    return checked


def validate_group_name(name: object) -> str:
    return _check_name("group", name, _GROUP_NAME, _ALLOWED)


def real_channel(name: str) -> str:
    """The channel a backend actually stores ``name`` under: ``a.b!x`` lives in ``a.b!``."""
    bang = name.find("!")
    return name if bang < 0 else name[: bang + 1]


class GlobTable:
    """First-match lookup of per-channel values by shell-style glob, cached per name."""

    def __init__(self, patterns: Mapping[str, Any] | None, default: Any) -> None:
        self.default = default
        self._patterns = [
            (re.compile(fnmatch.translate(glob)), value) for glob, value in (patterns or {}).items()
        ]
        self._cache: dict[str, Any] = {}

    def __getitem__(self, channel: str) -> Any:
        try:
            return self._cache[channel]
        except KeyError:
            pass
        value = next((v for rx, v in self._patterns if rx.match(channel)), self.default)
        if len(self._cache) < 10_000:
            self._cache[channel] = value
        return value


def _count_refusal(channel: str, error: Exception) -> None:
    metrics.refused(channel, "channel_full" if isinstance(error, ChannelFull) else "too_large")


def _count_send(channel: str, sent: asyncio.Future[None]) -> None:
    """Count a send begun with ``send_soon`` once it settles, as ``send`` counts."""
    if sent.cancelled():
        return
    error = sent.exception()
    if isinstance(error, ChannelFull | MessageTooLarge):
        _count_refusal(channel, error)
    elif error is None:
        metrics.SENT.inc(metrics.channel_label(channel))


def durable_matcher(globs: Iterable[str]) -> GlobTable:
    return GlobTable(dict.fromkeys(globs, True), False)


class BaseChannelLayer:
    """Common front of every layer. See docs/layers.md for the contract."""

    #: True when only this process can see the layer's messages (``memory://``): then
    #: ``serve`` runs workers itself and ``gateways worker`` refuses to start.
    process_local = False

    #: Seconds a durable message taken but not acknowledged stays hidden before it is
    #: delivered again; None for layers that never redeliver. A consumer that holds a
    #: message longer (an email retrying its relay) acks early to avoid a second delivery.
    visibility_timeout: float | None = None

    def __init__(
        self,
        *,
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: Mapping[str, int] | None = None,
        inbox_capacity: int = 10_000,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        durable_channels: Iterable[str] = (),
        order_timeout: float = 30.0,
    ) -> None:
        positives = (("expiry", expiry), ("group_expiry", group_expiry))
        for setting, value in (*positives, ("order_timeout", order_timeout)):
            if not value > 0:
                raise ValueError(f"layer setting {setting} must be positive, got {value!r}")
        sizes = (("capacity", capacity), ("inbox_capacity", inbox_capacity))
        for setting, size in (*sizes, ("max_message_size", max_message_size)):
            if not size > 0:
                raise ValueError(f"layer setting {setting} must be positive, got {size!r}")
        self.expiry = float(expiry)
        self.group_expiry = float(group_expiry)
        self.capacity = int(capacity)
        self.capacities = GlobTable(channel_capacity, self.capacity)
        self.inbox_capacities = GlobTable(channel_capacity, int(inbox_capacity))
        self.max_message_size = int(max_message_size)
        self.durable_channels = list(durable_channels)
        self.durable = durable_matcher(self.durable_channels)
        self.order_timeout = float(order_timeout)
        self._orders = OrderBook(self.order_timeout, self.group_expiry)
        self._heartbeats = Heartbeats()
        self.client_prefix = secrets.token_hex(6)
        self._specific: dict[str, asyncio.Queue[tuple[str, Message]]] = {}
        self._specific_locks: dict[str, asyncio.Lock] = {}
        self._back: asyncio.Future[None] | None = None  # see reconnected()
        #: What seals a serialized message and opens it again (a layer's encryption).
        self._seal: Callable[[bytes], bytes] | None = None
        self._unseal: Callable[[bytes], bytes] | None = None
        # Not for a subclass that wraps send() (it would be bypassed).
        cls = type(self)
        base = BaseChannelLayer
        self._sends_now = cls._send_now is not base._send_now and cls.send is base.send
        self._sends_soon = cls._send_soon is not base._send_soon and cls.send is base.send

    def declare_durable(self, globs: Iterable[str]) -> None:
        """Make more channels durable: those plugins declare with ``ChannelSpec(durable=True)``
        (``get_layer`` passes them), beside the layer's own ``durable_channels``."""
        added = [g for g in globs if g not in self.durable_channels]
        if added:
            self.durable_channels.extend(added)
            self.durable = durable_matcher(self.durable_channels)

    def capacity_of(self, channel: str) -> int:
        """How many messages the queue holding ``channel`` takes.

        Every ``prefix!suffix`` channel of a process lives in that process's ``prefix!``
        inbox, so one broadcast to a thousand sockets of one process lands in one queue: the
        inbox gets its own, larger capacity (``channel_capacity`` globs still apply to it).
        """
        queue = real_channel(channel)
        found = self.capacities[channel] if queue == channel else self.inbox_capacities[queue]
        return int(found)

    # -- wire format -------------------------------------------------------------------

    def serialize(self, message: Mapping[str, Any]) -> bytes:
        if type(message) is not dict and not isinstance(message, Mapping):  # dict: no ABC check
            raise TypeError(f"a message must be a dict, not {type(message).__name__}")
        try:
            data = codec.pack(message)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(
                f"message cannot be sent: {exc} (allowed: dict, list, str, "
                "bytes, int, float, bool, None)"
            ) from None
        if len(data) > self.max_message_size:
            raise MessageTooLarge(
                f"message is {len(data)} bytes; this layer's limit is {self.max_message_size}"
            )
        return data if self._seal is None else self._seal(data)

    def deserialize(self, data: bytes) -> Message:
        if self._unseal is not None:
            data = self._unseal(data)
        message: Message = codec.unpack(data)
        if GROUP_KEY in message:  # one lookup: any other message pays nothing more
            return _from_group(message)
        return message

    # -- public API --------------------------------------------------------------------

    async def send(self, channel: str, message: Mapping[str, Any]) -> None:
        if channel not in _valid_names[False]:  # (a name sent to before: known good)
            validate_channel_name(channel)
        try:
            data = self.serialize(message)
            if self._sends_soon and (sent := self._send_soon(channel, data)) is not None:
                await sent  # begun at once: no coroutine of the layer's own
            else:
                await self._send(channel, data)
        except (ChannelFull, MessageTooLarge) as exc:
            _count_refusal(channel, exc)
            raise
        if metrics.ON:
            metrics.SENT.inc(metrics.channel_label(channel))

    def send_now(self, channel: str, message: Mapping[str, Any]) -> bool:
        """:meth:`send` without waiting, where the layer can (its queues are in this
        process): True once sent, with the errors of :meth:`send`. False: nothing was
        done; ``await send()`` instead. Saves a hot path the task an await would need."""
        if not self._sends_now:
            return False
        validate_channel_name(channel)
        try:
            self._send_now(channel, self.serialize(message))
        except (ChannelFull, MessageTooLarge) as exc:
            _count_refusal(channel, exc)
            raise
        if metrics.ON:
            metrics.SENT.inc(metrics.channel_label(channel))
        return True

    def send_soon(self, channel: str, message: Mapping[str, Any]) -> asyncio.Future[None] | None:
        """:meth:`send` begun at once, where the layer can, without a coroutine: a future
        with the outcome :meth:`send` would have (a bad name or message raises here and
        now). None: nothing was done; ``await send()`` instead. For hot paths that settle
        a send in a callback (one per HTTP request) rather than a task each."""
        if not self._sends_soon:
            return None
        validate_channel_name(channel)
        try:
            sent = self._send_soon(channel, self.serialize(message))
        except MessageTooLarge as exc:
            _count_refusal(channel, exc)
            raise
        if sent is not None and metrics.ON:  # (nothing reads the counts otherwise)
            sent.add_done_callback(lambda done: _count_send(channel, done))
        return sent

    async def receive(
        self, channels: Iterable[str], timeout: float | None = None
    ) -> tuple[str, Message] | tuple[None, None]:
        """Wait for the next message on any of ``channels``; ``(None, None)`` on timeout.

        A name ending in ``!`` receives every channel of that process prefix; a full
        ``prefix!suffix`` name receives just that one, buffering its siblings.
        """
        if type(channels) is list and len(channels) == 1 and channels[0] in _valid_names[True]:
            return await self._receive_decoded(channels, timeout)  # (a worker's, an inbox)
        names, specific = self._receive_names(channels)
        if specific is None:
            return await self._receive_decoded(names, timeout)
        return await self._receive_specific(specific, timeout)

    @staticmethod
    def _receive_names(channels: Iterable[str]) -> tuple[list[str], str | None]:
        """The checked names of a receive, and its one full ``prefix!suffix`` name if any."""
        if isinstance(channels, str):
            raise TypeError("receive() takes a list of channel names, not one str")
        names = [validate_channel_name(c, receive=True) for c in channels]
        if not names:
            raise ValueError("receive() needs at least one channel")
        specific = [n for n in names if "!" in n and not n.endswith("!")]
        if not specific:
            return names, None
        if len(names) > 1:
            raise ValueError("a full process-specific channel must be received on its own")
        return names, specific[0]

    async def receive_many(
        self, channels: Iterable[str], limit: int, timeout: float | None = None
    ) -> list[tuple[str, Message]]:
        """Up to ``limit`` messages at once: the first to arrive, with whatever else is
        ready on the same channel in the same round trip; ``[]`` on timeout.

        For a caller that starts every message it gets at once (a worker with that many
        free slots), so the messages are as good as taken by that many receives; nothing
        is held back. Layers that cannot do better return one message.
        """
        channel, message = await self.receive(channels, timeout)
        return [] if channel is None or message is None else [(channel, message)]

    async def new_channel(self, prefix: str = "specific") -> str:
        """A fresh process-specific name that only this layer object receives."""
        name = f"{prefix}.{self.client_prefix}!{secrets.token_hex(8)}"
        return validate_channel_name(name)

    async def group_add(self, group: str, channel: str) -> None:
        await self._group_add(validate_group_name(group), validate_channel_name(channel))

    async def group_discard(self, group: str, channel: str) -> None:
        await self._group_discard(validate_group_name(group), validate_channel_name(channel))

    async def group_send(self, group: str, message: Mapping[str, Any]) -> None:
        """Send ``message`` to every member of ``group``, marked with the group's name
        (:data:`GROUP_KEY`, out again when a member reads it): serialized once for all."""
        validate_group_name(group)
        if isinstance(message, Mapping):  # anything else: serialize() says what is wrong
            message = {**message, GROUP_KEY: group}
        await self._group_send(group, self.serialize(message))

    async def ack(self, channel: str, message: Message) -> None:
        """Confirm a durable message was handled; layers without durability ignore it."""

    def clock(self, channel: str) -> float:
        """Now, in seconds since the epoch, on the clock that ``channel``'s messages are
        timed by: the sender of a message with a deadline and the worker that checks it
        read the same clock, whatever the skew between their machines. One process's
        layer: this machine's clock."""
        return time.time()

    # -- what the layer tells about itself (see gateways.layers.observing) --------------

    async def channel_figures(self, channels: Iterable[str]) -> dict[str, ChannelFigures]:
        """Depth, oldest message's age and capacity of each of ``channels``."""
        names = [validate_channel_name(c, receive=True) for c in channels]
        return await self._channel_figures(names) if names else {}

    async def busy_channels(self) -> list[str]:
        """Channels that hold messages now (process inboxes aside)."""
        return sorted(c for c in await self._busy_channels() if "!" not in c)

    async def heartbeat(self, kind: str, name: str, record: dict[str, Any], ttl: float) -> None:
        """Say that ``name`` (a worker, an interface process) is alive, for ``ttl`` seconds."""
        self._heartbeats.beat(kind, name, record, ttl)

    async def heartbeat_stop(self, kind: str, name: str) -> None:
        """``name`` stops cleanly: forget it now rather than when its heartbeat lapses."""
        self._heartbeats.forget(kind, name)

    async def alive(self, kind: str) -> list[dict[str, Any]]:
        """The records of every live ``kind`` (``worker``, ``interface``)."""
        return self._heartbeats.alive(kind)

    # -- message groups (see gateways.layers.ordering) -----------------------------------

    async def order_begin(self, group: str, seq: int, channel: str, message: Message) -> bool:
        """May message ``seq`` of ``group`` run now? If not, the layer keeps it (parked)
        until :meth:`order_end` of ``seq - 1`` hands it over, or ``order_timeout`` passes."""
        return await self._order_begin(group, seq, channel, self.serialize(message))

    async def order_end(
        self, group: str, seq: int, last: bool = False
    ) -> tuple[tuple[str, Message] | None, bool]:
        """Message ``seq`` of ``group`` ended: the parked message to run next (if any),
        and whether to wake the group's interface (send it ``{"__progress__": seq}``).
        ``last`` (the message carried ``__last__``): nothing follows, so the group's
        record is forgotten unless something is parked."""
        parked, wake = await self._order_end(group, seq, last)
        following = None if parked is None else (parked[0], self.deserialize(parked[1]))
        return following, wake

    async def order_release(self) -> list[tuple[str, tuple[str, Message]]]:
        """Parked messages whose predecessor did not end within ``order_timeout`` (its
        worker died), as ``(group, (channel, message))``: run them, then end them."""
        released = await self._order_release()
        return [(group, (channel, self.deserialize(data))) for group, (channel, data) in released]

    async def order_wait(self, group: str, seq: int) -> bool:
        """True if message ``seq`` of ``group`` ended; otherwise the worker that ends it
        will wake the interface (a ``__progress__`` message on ``group``)."""
        return await self._order_wait(group, seq)

    async def flush(self) -> None:
        self._specific.clear()
        self._orders = OrderBook(self.order_timeout, self.group_expiry)
        await self._flush()

    async def close(self) -> None:
        await self._close()

    def reconnected(self) -> asyncio.Future[None]:
        """Done the next time this layer opens a connection to a server: after an outage,
        it is back. A receive loop backing off from the outage waits on it beside its
        pause, so it resumes as soon as a send got through (a failover ended), not up to
        a back-off later. Pending for good in a layer that never loses its server; a
        layer of your own sets it by calling :meth:`_connected`."""
        loop = asyncio.get_running_loop()
        if self._back is None or self._back.get_loop() is not loop:  # (a layer reused)
            self._back = loop.create_future()
        return self._back

    def _connected(self) -> None:
        """For layers: a connection to a server opened (see :meth:`reconnected`)."""
        back, self._back = self._back, None
        if back is not None and not back.done() and not back.get_loop().is_closed():
            back.set_result(None)

    # -- process-specific buffering ------------------------------------------------------

    async def _receive_decoded(
        self, names: list[str], timeout: float | None
    ) -> tuple[str, Message] | tuple[None, None]:
        channel, data = await self._receive(names, timeout)
        if channel is None or data is None:
            return None, None
        return channel, self.deserialize(data)

    async def _receive_specific(
        self, name: str, timeout: float | None
    ) -> tuple[str, Message] | tuple[None, None]:
        queue = self._specific.setdefault(name, asyncio.Queue())
        if not queue.empty():
            return queue.get_nowait()
        prefix = real_channel(name)
        lock = self._specific_locks.setdefault(prefix, asyncio.Lock())
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            async with lock:
                if not queue.empty():
                    return queue.get_nowait()
                channel, message = await self._receive_decoded([prefix], remaining)
            if channel is None or message is None:
                if queue.empty():
                    self._specific.pop(name, None)
                    return None, None
            elif channel == name:
                return channel, message
            else:
                self._specific.setdefault(channel, asyncio.Queue()).put_nowait((channel, message))
            if not queue.empty():
                return queue.get_nowait()

    # -- backend operations --------------------------------------------------------------

    async def _send(self, channel: str, data: bytes) -> None:
        raise NotImplementedError

    def _send_now(self, channel: str, data: bytes) -> None:
        """:meth:`_send` without waiting, for a layer that can (see :meth:`send_now`);
        left as is, ``send_now`` answers False."""
        raise NotImplementedError

    def _send_soon(self, channel: str, data: bytes) -> asyncio.Future[None] | None:
        """:meth:`_send` begun at once, for a layer that can (see :meth:`send_soon`); it
        may still answer None for a send it cannot begin here. Left as is,
        ``send_soon`` answers None."""
        raise NotImplementedError

    async def _receive(
        self, channels: list[str], timeout: float | None
    ) -> tuple[str, bytes] | tuple[None, None]:
        raise NotImplementedError

    async def _group_add(self, group: str, channel: str) -> None:
        raise NotImplementedError

    async def _group_discard(self, group: str, channel: str) -> None:
        raise NotImplementedError

    async def _group_send(self, group: str, data: bytes) -> None:
        raise NotImplementedError

    async def _channel_figures(self, channels: list[str]) -> dict[str, ChannelFigures]:
        raise NotImplementedError(f"{type(self).__name__} cannot count its channels")

    async def _busy_channels(self) -> list[str]:
        return []

    # Message groups kept in this process: right for a process-local layer; a layer
    # shared by processes keeps them where every process sees them (see the Redis layer).

    async def _order_begin(self, group: str, seq: int, channel: str, data: bytes) -> bool:
        return self._orders.begin(group, seq, channel, data)

    async def _order_end(
        self, group: str, seq: int, last: bool = False
    ) -> tuple[tuple[str, bytes] | None, bool]:
        return self._orders.end(group, seq, last)

    async def _order_release(self) -> list[tuple[str, tuple[str, bytes]]]:
        return self._orders.release()

    async def _order_wait(self, group: str, seq: int) -> bool:
        return self._orders.wait(group, seq)

    async def _flush(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        return None
