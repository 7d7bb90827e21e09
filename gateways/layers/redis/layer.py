"""``RedisChannelLayer``: the layer shared by processes and machines.

Layout in Redis (``prefix`` defaults to ``gateways:``; keys.py names each key, with
hash tags on Redis Cluster):

- ``{prefix}c:{channel}`` a list of entries; a ``prefix!`` channel's list holds every
  channel under that process prefix. Its TTL is at least its newest entry's lifetime
  and at most twice the expiry past it, so an abandoned list vanishes by itself.
- ``{prefix}g:{group}`` a sorted set of member channels scored by when they lapse; each
  shard holds the members whose lists it holds (a group is spread like its members);
  ``{prefix}gt:{group}`` beside it says until when all those lists are known to live
  (see groups.py).
- durable channels add ``{prefix}h:{channel}`` (in-flight delivery ids scored by when
  they become visible again) and ``{prefix}m:{channel}`` (their entries and attempts).
- message-group records, see orders.py.

The topology (topology.py) says which server holds a key: the shard the hash ring picks,
the primary Sentinel names, or the cluster node owning the key's slot. A process's
``prefix!`` list is a single key, so it lives whole on one server.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Iterable
from typing import Any

import msgpack

from gateways.layers.base import BaseChannelLayer, Message, real_channel, validate_channel_name
from gateways.layers.errors import ChannelFull, LayerUnavailable
from gateways.layers.observing import ChannelFigures
from gateways.layers.redis import entries
from gateways.layers.redis.capacities import capacity_args
from gateways.layers.redis.groups import RedisGroups
from gateways.layers.redis.keys import KeySpace
from gateways.layers.redis.orders import RedisOrders
from gateways.layers.redis.resp import Arg, bulk, bulk_between
from gateways.layers.redis.ring import HashRing
from gateways.layers.redis.routes import (
    CACHED,
    Place,
    Plan,
    Pushes,
    Route,
    make_plan,
)
from gateways.layers.redis.settings import Address, ClusterAddress, SentinelAddress, ShardAddress
from gateways.layers.redis.shard import Shard
from gateways.layers.redis.taker import AGAIN, LONG_WAY, Taker
from gateways.layers.redis.topology import RingTopology, Topology

#: The content key that tells a consumer about a durable delivery (see gateways.message).
DELIVERY_KEY = "__delivery__"
#: Longest single blocking pop; longer waits are several pops in a row.
MAX_BLOCK = 30.0

Found = tuple[entries.Entry, int, str]  # entry, delivery attempt (0: not durable), id


class RedisChannelLayer(RedisGroups, RedisOrders, BaseChannelLayer):
    def __init__(
        self,
        address: Address,
        *,
        prefix: str = "gateways:",
        visibility_timeout: float = 60.0,
        durable_expiry: float = 86400.0,
        durable_poll: float = 0.5,
        durable_replicas: int | None = None,
        batch: int = 100,
        max_connections: int = 100,
        socket_timeout: float = 2.0,
        socket_connect_timeout: float = 2.0,
        encryption_keys: Iterable[str] = (),
        **options: Any,
    ) -> None:
        super().__init__(**options)
        for name, value in (
            ("visibility_timeout", visibility_timeout),
            ("durable_expiry", durable_expiry),
            ("durable_poll", durable_poll),
            ("batch", batch),
            ("max_connections", max_connections),
            ("socket_timeout", socket_timeout),
        ):
            if not value > 0:
                raise ValueError(f"redis layer setting {name} must be positive, got {value!r}")
        if durable_replicas is not None and durable_replicas < 0:
            raise ValueError(
                f"redis layer setting durable_replicas must be 0 or more, got {durable_replicas}"
            )
        self.prefix = prefix
        self.visibility_timeout = float(visibility_timeout)
        self.visibility_ms = int(visibility_timeout * 1000)
        self.durable_ms = int(durable_expiry * 1000)
        self.durable_poll = durable_poll
        self.batch = batch
        self._order_timeout_ms = int(self.order_timeout * 1000)
        self._order_ttl_ms = int(self.group_expiry * 1000)
        self.topology = _topology(
            address,
            max_connections=max_connections,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
            expiry_ms=int(self.expiry * 1000),
            connected=self._connected,
        )
        self.keys = KeySpace(prefix, self.topology.tagged)
        #: Replicas a durable message must reach before a send returns (``WAIT``): every
        #: replica online, and at least this many; by default 1 behind Sentinel (a
        #: failover must not lose an accepted message), else 0.
        sentinel = isinstance(address, SentinelAddress)
        self.durable_replicas = int(sentinel) if durable_replicas is None else durable_replicas
        #: Whether durable sends wait for replicas at all: with automatic failover
        #: (Sentinel, Cluster), or when asked to.
        self._replicated = sentinel or self.topology.tagged or self.durable_replicas > 0
        fernet = _multi_fernet(encryption_keys)
        if fernet is not None:
            self._seal, self._unseal = fernet.encrypt, functools.partial(_decrypt, fernet)
        #: Capacity rules for the group_send script (see capacities.py).
        self._sizes = capacity_args(
            self.capacity,
            self.inbox_capacities.default,
            options.get("channel_capacity"),
        )
        self._buffers: dict[str, deque[bytes]] = {}
        self._routes: dict[str, Route] = {}
        self._plans: dict[tuple[str, ...], Plan] = {}
        self._resends: set[asyncio.Future[None]] = set()  # sends going the long way

    def __repr__(self) -> str:
        return f"<RedisChannelLayer {', '.join(s.name for s in self.topology.opened())}>"

    # -- keys and servers ----------------------------------------------------------------

    @property
    def shards(self) -> list[Shard]:
        """Every server holding keys (each primary of a cluster)."""
        return self.topology.shards

    @property
    def ring(self) -> HashRing:
        """The hash ring of a sharded layer."""
        assert isinstance(self.topology, RingTopology), "a cluster layer has no hash ring"
        return self.topology.ring

    async def _ready(self) -> None:
        """Learn the servers' layout again if a failure made it doubtful (a cluster)."""
        if self.topology.stale:
            await self.topology.refresh()

    def _list_key(self, channel: str) -> str:
        return self.keys.queue(channel)

    def _shard_of(self, key: str) -> Shard:
        return self.topology.shard_of(key)

    def clock(self, channel: str) -> float:
        """The clock of the Redis server holding ``channel`` (learnt from its replies;
        this machine's clock until the first one)."""
        route = self._route(channel)
        try:  # (a route is kept per queue: no key to build)
            offset = (route.shard or self._shard_of(route.key)).clock_offset
        except LayerUnavailable:
            offset = None
        return time.time() + (offset or 0.0)

    def _ttl_ms(self, channel: str) -> int:
        return self.durable_ms if self.durable[channel] else int(self.expiry * 1000)

    # -- send ----------------------------------------------------------------------------

    def declare_durable(self, globs: Iterable[str]) -> None:
        super().declare_durable(globs)
        self._routes.clear()  # they know which queues are durable
        self._plans.clear()

    def _route(self, channel: str) -> Route:
        """How to send to ``channel``'s queue (kept per queue: its settings do not
        change). A process's inbox is one list, durable or not as a whole (as its
        receiver reads it); keeping it by the inbox keeps per-reply names out of the
        cache."""
        route = self._routes.get(channel)
        if route is not None:
            return route
        queue = real_channel(channel)
        route = self._routes.get(queue)
        if route is None:
            # (an inbox ``p!`` takes the capacity of its ``p!suffix`` channels)
            capacity = self.capacity_of(queue + "_" if queue.endswith("!") else queue)
            key = self._list_key(queue)
            route = Route.make(
                key, capacity, self._ttl_ms(queue), self.durable[queue], self.topology.pinned(key)
            )
            if len(self._routes) < CACHED:
                self._routes[queue] = route
        return route

    async def _send(self, channel: str, data: bytes) -> None:
        route = self._route(channel)
        if self.topology.stale:
            await self.topology.refresh()
        shard = self.topology.shard_of(route.key)
        if route.durable:
            args: list[Arg] = [
                route.capacity,
                route.ttl_ms,
                entries.tail(channel, data, secrets.token_hex(8)),
            ]
            if self._replicated:
                queued = await shard.replicated_script(
                    "send", [route.key], args, self.durable_replicas
                )
            else:
                queued = await shard.script("send", [route.key], args)
        else:
            tail = entries.tail(channel, data)
            args = [route.capacity, route.ttl_ms, tail]
            queued = await shard.script(
                "send", [route.key], args, bulk_between(route.send, tail, b"")
            )
        if not queued:
            raise _full(channel, route)
        shard.learn_clock(queued)

    def _send_soon(self, channel: str, data: bytes) -> asyncio.Future[None] | None:
        """The plain-channel case of :meth:`_send`, begun at once on an open connection
        and settled as its reply is read: no coroutines on a hot path (one per HTTP
        request, one per reply), and no script: ``RPUSH``, then ``PEXPIRE`` (see
        scripts.TAKE_BACK), the entry's expiry stamped on the server's clock as last
        learnt."""
        route = self._route(channel)
        if route.durable or self.topology.stale:
            return None
        shard = route.shard or self.topology.shard_of(route.key)
        now = shard.server_ms()
        if now is None:  # the long way asks the server's clock
            return None
        entry = entries.stamped(now + route.ttl_ms, channel, data)

        def settle(sent: asyncio.Future[None], done: Any) -> None:
            if sent.done():  # its caller gave up on it
                return
            if type(done) is not int:  # RPUSH's error, or the connection's
                self._send_failed(sent, shard, channel, data, done)
            elif done <= route.capacity:  # the list's length after this entry
                sent.set_result(None)
            else:
                self._in_background(sent, self._take_back(shard, route, channel, entry))

        return shard.join_soon(route, Pushes, entry, settle)

    def _send_failed(
        self,
        sent: asyncio.Future[None],
        shard: Shard,
        channel: str,
        data: bytes,
        error: BaseException,
    ) -> None:
        """A plain send failed with ``error``."""
        failure = shard.failure(error)
        if failure is None:  # it never ran: the long way (follows the cluster)
            self._send_again(sent, channel, data)
        else:
            sent.set_exception(failure)

    async def _take_back(self, shard: Shard, route: Route, channel: str, entry: bytes) -> None:
        """A push found its list past capacity: it stays if there is room after all."""
        if not await shard.script("take_back", [route.key], [route.capacity, entry]):
            raise _full(channel, route)

    def _send_again(self, sent: asyncio.Future[None], channel: str, data: bytes) -> None:
        self._in_background(sent, self._send(channel, data))

    def _in_background(self, sent: asyncio.Future[None], finish: Awaitable[None]) -> None:
        """``sent`` settles as ``finish`` does (kept referenced until then)."""
        task = asyncio.ensure_future(finish)
        self._resends.add(task)
        task.add_done_callback(self._resends.discard)
        task.add_done_callback(lambda done: _pass_on(done, sent))

    # -- receive -------------------------------------------------------------------------

    async def receive(
        self, channels: Iterable[str], timeout: float | None = None
    ) -> tuple[str, Message] | tuple[None, None]:
        """:meth:`BaseChannelLayer.receive`. While messages flow on channels received on
        before, it looks without blocking first, with no coroutine but this one (one
        receive per message a client or a worker takes); then it waits as usual."""
        if type(channels) is not list or (plan := self._flowing(channels)) is None:
            return await super().receive(channels, timeout)
        while plan.flowing and (taker := self._taker(plan)) is not None:
            if (taking := taker.take()) is None:
                break
            try:
                taken = await taking
            except asyncio.CancelledError:
                taker.give_back(taking)
                raise
            if taken is None:  # nothing there: wait for the next, blocking
                plan.flowing = False
                if timeout is not None and timeout < 0.01:
                    return None, None
            elif taken is LONG_WAY:
                break
            elif taken is not AGAIN:
                channel, data = entries.parse_plain(taken[1], taken[0])
                return channel, self.deserialize(data)
        return await self._receive_decoded(channels, timeout)

    def _flowing(self, channels: list[str]) -> Plan | None:
        """The plan of a receive on ``channels`` if messages flow there: a plan is kept
        only for names checked already (not a process-specific ``prefix!suffix``)."""
        if self._buffers or self.topology.stale:
            return None
        plan = self._plans.get(tuple(channels))
        return plan if plan is not None and plan.flowing else None

    async def _receive_decoded(
        self, names: list[str], timeout: float | None
    ) -> tuple[str, Message] | tuple[None, None]:
        found = await self._receive_entry(names, timeout)
        return (None, None) if found is None else self._delivered(found)

    def _taker(self, plan: Plan) -> Taker | None:
        """How a receive on ``plan`` looks without blocking: :meth:`_take_ready` begun
        at once on the shared connection, without a coroutine (one per message a worker
        or a client receives; see taker.py). None: go the long way."""
        taker = plan.taker
        if taker is not None and taker.pinned:
            return taker
        if not plan.direct:
            return None
        place = plan.places[0]
        shard = self._shard_of(place.key)
        if taker is None or taker.shard is not shard:
            pinned = self.topology.pinned(place.key) is shard
            taker = plan.taker = Taker(shard, place, self.keys.channel_of, pinned)
        return taker

    def _delivered(self, found: Found) -> tuple[str, Message]:
        """The message as a consumer sees it: a durable one says which delivery it is."""
        entry, attempt, delivery_id = found
        message = self.deserialize(entry.data)
        if attempt:
            message[DELIVERY_KEY] = {"id": delivery_id, "attempt": attempt}
        return entry.channel, message

    async def _receive(
        self, channels: list[str], timeout: float | None
    ) -> tuple[str, bytes] | tuple[None, None]:
        found = await self._receive_entry(channels, timeout)
        return (None, None) if found is None else (found[0].channel, found[0].data)

    async def receive_many(
        self, channels: Iterable[str], limit: int, timeout: float | None = None
    ) -> list[tuple[str, Message]]:
        """Up to ``limit`` ready messages in one round trip: what this process buffered
        already, else one ``BLMPOP`` (lists on one server: plain channels, process
        inboxes), else one pop script per server (per slot on a cluster) across every
        channel, durable ones held as :meth:`receive` holds them. Nothing taken is kept
        back: the caller starts them all.
        """
        if isinstance(channels, str):
            raise TypeError("receive_many() takes a list of channel names, not one str")
        names = [validate_channel_name(c, receive=True) for c in channels]
        if limit <= 1 or not names or any("!" in c and not c.endswith("!") for c in names):
            return await super().receive_many(names, limit, timeout)
        if self._buffers and (buffered := self._take_buffered_many(names, limit)):
            return buffered
        await self._ready()
        plan = self._plan_of(names)
        if plan.lists:
            return await self._blocking_many(plan, limit, timeout)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if found := await self._pop_many(plan, limit):
                return found
            remaining = MAX_BLOCK if deadline is None else deadline - loop.time()
            if remaining < 0.01:
                return []
            one = await self._wait(plan, min(remaining, MAX_BLOCK))
            if one is not None:
                return [self._delivered(one)]

    async def _blocking_many(
        self, plan: Plan, limit: int, timeout: float | None
    ) -> list[tuple[str, Message]]:
        """Plain channels of one server: while messages flow, one ``LMPOP`` on the
        command connection; else one ``BLMPOP``, which returns at once with up to
        ``limit`` entries of the first list that has any."""
        place = plan.places[0]
        if plan.flowing:
            if found := await self._take_many(place, limit):
                return found
            plan.flowing = False
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = MAX_BLOCK if deadline is None else deadline - loop.time()
            if remaining < 0.01:  # a blocking pop cannot wait less: look once
                return await super().receive_many(place.channels, 1, 0)
            shard = self._shard_of(place.key)
            popped = await shard.blocking_pop_many(
                _shuffled(place.waits), min(remaining, MAX_BLOCK), limit
            )
            if popped is None:
                continue
            if live := shard.live(popped[1]):
                plan.flowing = True
                return self._decoded_all(live, popped[0])

    async def _take_many(self, place: Place, limit: int) -> list[tuple[str, Message]]:
        """Up to ``limit`` entries of plain channels, without blocking (expired ones
        skipped); ``LMPOP`` where the server has it, else the pop script."""
        shard = self._shard_of(place.key)
        if len(place.waits) > 1 and not shard.lmpop:
            return await self._pop_many(Plan([place], True, False), limit)
        while True:
            taken = await shard.take_many(_shuffled(place.waits), limit)
            if taken is None:
                return []
            if live := shard.live(taken[1]):
                return self._decoded_all(live, taken[0])

    def _take_buffered_many(self, channels: list[str], limit: int) -> list[tuple[str, Message]]:
        """Entries a process-specific receive took ahead (never durable): they come
        before anything newer of their channel."""
        taken: list[tuple[str, Message]] = []
        while len(taken) < limit and (found := self._take_buffered(channels)) is not None:
            taken.append(self._delivered(found))
        return taken

    async def _pop_many(self, plan: Plan, limit: int) -> list[tuple[str, Message]]:
        """One script per place takes what is ready there, until ``limit`` are taken."""
        taken: list[tuple[str, Message]] = []
        places = plan.places
        start = random.randrange(len(places))
        for i in range(len(places)):
            if len(taken) >= limit:
                break
            place = places[(start + i) % len(places)]
            args: list[str | int] = [
                place.modes,
                limit - len(taken),
                self.visibility_ms,
                self.durable_ms,
                random.randrange(len(place.channels)),
            ]
            shard = self._shard_of(place.key)
            reply = await shard.script("pop_many", place.pop_keys, args)
            shard.learn_clock(reply[0])
            for k in range(1, len(reply), 4):
                index, attempt, delivery_id, raw = reply[k : k + 4]
                entry = entries.parse(raw, place.channels[index])
                found = (entry, int(attempt), delivery_id.decode())
                taken.append(self._delivered(found))
        return taken

    def _decoded_all(self, raws: list[bytes], key: str) -> list[tuple[str, Message]]:
        """Entries taken from the plain list ``key`` (no delivery ids: not durable)."""
        channel = self.keys.channel_of(key)
        deserialize = self.deserialize
        decoded = []
        for raw in raws:
            named, data = entries.parse_plain(raw, channel)
            decoded.append((named, deserialize(data)))
        return decoded

    async def _receive_entry(self, channels: list[str], timeout: float | None) -> Found | None:
        if self._buffers and (buffered := self._take_buffered(channels)) is not None:
            return buffered
        if self.topology.stale:
            await self.topology.refresh()
        plan = self._plan_of(channels)
        # Plain channels on one shard: a blocking pop returns at once when a message is
        # ready, so it goes first, unless messages are flowing (then a pop on the shared
        # connection rides along with the sends). Batches, durable channels and several
        # shards need the pop script first.
        direct = plan.direct
        if direct and plan.flowing:
            if (found := await self._take_ready(plan)) is not None:
                return found
            plan.flowing = False
            if timeout is not None and timeout < 0.01:
                return None
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if not direct and (found := await self._pop_ready(plan)) is not None:
                return found
            remaining = MAX_BLOCK if deadline is None else deadline - loop.time()
            if remaining < 0.01:
                return await self._pop_ready(plan) if direct else None
            found = await self._wait(plan, min(remaining, MAX_BLOCK))
            if found is not None:
                plan.flowing = True
                return found

    def _plan_of(self, channels: list[str]) -> Plan:
        """How to receive on ``channels`` (kept: see routes.py)."""
        names = tuple(channels)
        plan = self._plans.get(names)
        if plan is None:
            plan = make_plan(
                channels,
                self.topology.place_of,
                self._list_key,
                self.keys.held,
                self.durable.__getitem__,
                [self.batch, self.visibility_ms, self.durable_ms],
            )
            if len(self._plans) < CACHED:
                self._plans[names] = plan
        return plan

    def _plan(self, channels: list[str]) -> list[tuple[Shard, list[str]]]:
        """The requested channels grouped by place (a shard; a cluster's slot)."""
        return [(self._shard_of(p.key), p.channels) for p in self._plan_of(channels).places]

    def _take_buffered(self, channels: list[str]) -> Found | None:
        for channel in channels:
            buffer = self._buffers.get(channel)
            if buffer:
                raw = buffer.popleft()
                if not buffer:
                    del self._buffers[channel]
                return entries.parse(raw, channel), 0, ""
        return None

    async def _take_ready(self, plan: Plan) -> Found | None:
        """Plain channels of one place, without blocking: ``LPOP`` (``LMPOP``: no script
        to run on the server), an expired entry skipped as a blocking pop skips it."""
        place = plan.places[0]
        shard = self._shard_of(place.key)
        takes = place.takes
        if len(takes) > 1 and not shard.lmpop:
            return await self._pop_ready(plan)
        while True:
            command, packed = takes[random.randrange(len(takes))] if len(takes) > 1 else takes[0]
            taken = await shard.take(command, packed)
            if taken is None:
                return None
            if not shard.expired(taken[1]):
                return entries.parse(taken[1], self.keys.channel_of(taken[0])), 0, ""

    async def _pop_ready(self, plan: Plan) -> Found | None:
        """One script per shard takes what is ready, without blocking."""
        places = plan.places
        start = random.randrange(len(places)) if len(places) > 1 else 0
        for i in range(len(places)):
            place = places[(start + i) % len(places)]
            first = random.randrange(len(place.channels)) if len(place.channels) > 1 else 0
            args: list[Arg] = [place.modes, self.batch, self.visibility_ms, self.durable_ms, first]
            shard = self._shard_of(place.key)
            reply = await shard.script("pop", place.pop_keys, args, place.pop + bulk(first))
            if reply[0] < 0:
                shard.learn_clock(reply[1])
            else:
                index, attempt, delivery_id, raw, *rest = reply
                channel = place.channels[index]
                if rest:
                    self._buffers.setdefault(channel, deque()).extend(rest)
                return entries.parse(raw, channel), int(attempt), delivery_id.decode()
        return None

    async def _wait(self, plan: Plan, seconds: float) -> Found | None:
        """Block until a message arrives; durable channels are polled instead."""
        waits = [
            (self._shard_of(place.key), _shuffled(place.waits))  # no channel starves the others
            for place in plan.places
            if place.waits
        ]
        if plan.durable:
            seconds = min(seconds, self.durable_poll)
        if not waits:
            await asyncio.sleep(seconds)  # only durable channels: poll them
            return None
        if len(waits) == 1:
            shard, keys = waits[0]
            popped = await shard.blocking_pop(keys, seconds)
        else:
            shard, popped = await self._race(waits, seconds)
        if popped is None or shard.expired(popped[1]):
            return None  # the caller looks again while time is left
        return entries.parse(popped[1], self.keys.channel_of(popped[0])), 0, ""

    async def _race(
        self, waits: list[tuple[Shard, list[str]]], seconds: float
    ) -> tuple[Shard, tuple[str, bytes] | None]:
        """Blocking pops on several shards at once: the first message wins; the other
        pops are unblocked and whatever they took goes back to the head of its list."""
        tasks = [asyncio.ensure_future(shard.blocking_pop(keys, seconds)) for shard, keys in waits]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()  # no-op once done; else the pop is abandoned and given back
        winner: tuple[Shard, tuple[str, bytes] | None] = (waits[0][0], None)
        error = None
        for (shard, _), task in zip(waits, tasks, strict=True):
            if not task.done() or task.cancelled():
                continue
            if task.exception() is not None:
                error = error or task.exception()
            elif (popped := task.result()) is not None:
                if winner[1] is None:
                    winner = (shard, popped)
                else:
                    await shard.requeue(*popped)
        if winner[1] is None and error is not None:
            raise error
        return winner

    # -- durable -------------------------------------------------------------------------

    async def ack(self, channel: str, message: Message) -> None:
        """Forget a durable delivery once its consumer finished; without an ack, the
        message becomes visible again after ``visibility_timeout``."""
        delivery = message.get(DELIVERY_KEY)
        if not self.durable[channel] or not isinstance(delivery, dict):
            return
        await self._ready()
        key = self._list_key(channel)
        held = list(self.keys.held(channel))
        await self._shard_of(key).script("ack", held, [str(delivery["id"])])

    # -- what the layer tells about itself (gateways.layers.observing) -------------------

    async def _channel_figures(self, channels: list[str]) -> dict[str, ChannelFigures]:
        await self._ready()
        figures: dict[str, ChannelFigures] = {}
        for shard, names in self._plan(channels):
            keys = []
            for channel in names:
                keys += [self._list_key(channel), self.keys.held(channel)[0]]
            reply = await shard.script("figures", keys, [])
            for i, channel in enumerate(names):
                waiting, taken, head = reply[1 + 3 * i : 4 + 3 * i]
                queued_at = head - self._ttl_ms(real_channel(channel)) if head >= 0 else None
                figures[channel] = {
                    "depth": waiting + taken,
                    "oldest_age": None
                    if queued_at is None
                    else max(0, reply[0] - queued_at) / 1000,
                    "capacity": self.capacity_of(channel),
                }
        return figures

    async def _busy_channels(self) -> list[str]:
        await self._ready()
        prefix = f"{self.prefix}c:"
        found = await asyncio.gather(*(s.keys_with(prefix) for s in self.shards))
        return [self.keys.channel_of(key) for keys in found for key in keys]

    async def heartbeat(self, kind: str, name: str, record: dict[str, Any], ttl: float) -> None:
        await self._ready()
        key = self.keys.heartbeat(kind, name)
        data = msgpack.packb(record, use_bin_type=True)
        await self._shard_of(key).call(b"SET", key, data, b"PX", int(ttl * 1000))

    async def heartbeat_stop(self, kind: str, name: str) -> None:
        await self._ready()
        key = self.keys.heartbeat(kind, name)
        await self._shard_of(key).call(b"DEL", key)

    async def alive(self, kind: str) -> list[dict[str, Any]]:
        await self._ready()
        prefix = self.keys.heartbeat(kind, "")
        records: list[dict[str, Any]] = []
        for shard in self.shards:
            keys = sorted(await shard.keys_with(prefix))
            values = await asyncio.gather(*(shard.call(b"GET", key) for key in keys))
            records.extend(msgpack.unpackb(v, raw=False) for v in values if v is not None)
        return sorted(records, key=lambda record: str(record.get("name")))

    # -- housekeeping --------------------------------------------------------------------

    async def _flush(self) -> None:
        self._buffers.clear()
        for plan in self._plans.values():
            plan.flowing = False
        await self._ready()
        tagged = self.keys.tagged
        await asyncio.gather(*(s.delete_prefix(self.prefix, tagged) for s in self.shards))

    async def _close(self) -> None:
        await self.topology.close()


def _topology(address: Address, **shard: Any) -> Topology:
    if isinstance(address, ClusterAddress):
        from gateways.layers.redis.cluster import ClusterTopology

        return ClusterTopology(address, **shard)
    if isinstance(address, SentinelAddress):
        from gateways.layers.redis.sentinel import SentinelHooks

        hooks = SentinelHooks(
            address,
            socket_timeout=shard["socket_timeout"],
            socket_connect_timeout=shard["socket_connect_timeout"],
        )
        return RingTopology([ShardAddress(address.url, address.name)], hooks, **shard)
    if not address:
        raise ValueError("a redis layer needs at least one server")
    return RingTopology(address, None, **shard)


def _shuffled(keys: list[str]) -> list[str]:
    """``keys`` in a random order (a blocking pop takes the first list that has any)."""
    return keys if len(keys) == 1 else random.sample(keys, len(keys))


def _decrypt(fernet: Any, data: bytes) -> bytes:
    from cryptography.fernet import InvalidToken

    try:
        return fernet.decrypt(data)
    except InvalidToken:
        raise ValueError(
            "a message could not be decrypted with any of this layer's "
            "encryption_keys (is the sender using another key?)"
        ) from None


def _multi_fernet(keys: Iterable[str]) -> Any:
    """Fernet over every key (the first encrypts; all decrypt, for key rotation)."""
    keys = list(keys)
    if not keys:
        return None
    from cryptography.fernet import Fernet, MultiFernet

    # Any secret string works: it is stretched to a Fernet key as asgi_redis did.
    return MultiFernet(
        [Fernet(base64.urlsafe_b64encode(hashlib.sha256(k.encode()).digest())) for k in keys]
    )


def _pass_on(source: asyncio.Future[None], target: asyncio.Future[None]) -> None:
    """Give ``target`` the outcome of ``source`` (unless its caller gave up on it)."""
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(None)


def _full(channel: str, route: Route) -> ChannelFull:
    return ChannelFull(f"channel {channel!r} is full ({route.capacity} messages)")
