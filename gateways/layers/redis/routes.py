"""What a send to one queue, or a receive on one list of channels, needs from the
layer's settings, worked out once and kept: names, capacities, durability and most of
each script command do not change from call to call, so the hot path packs only the
message (a send) or the index to start at (a receive).

A receive *plan* also remembers whether its last receive found a message: while
messages keep coming, the next receive looks without blocking on the shared command
connection, where its pop travels in one write with the sends of the same turn of the
loop, instead of a blocking pop on a connection of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from gateways.layers.redis.resp import Arg, Batch, bulk, bulk_between, pack
from gateways.layers.redis.shard import Shard, script_prefix
from gateways.layers.redis.taker import Taker

#: Routes and plans kept per layer (names past this are worked out on every call).
CACHED = 10_000

_RPUSH = bulk(b"RPUSH")


@dataclass(frozen=True, slots=True)
class Route:
    """A send to one queue (a channel's list; a process's ``prefix!`` inbox)."""

    key: str
    capacity: int
    ttl_ms: int
    durable: bool
    #: The send script's EVALSHA up to its last argument, the entry (scripts.SEND).
    send: bytes
    #: A plain send around its entry: ``RPUSH`` up to the entry, then ``PEXPIRE``.
    push: bytes
    expire: bytes
    #: The server holding ``key`` for good (see Topology.pinned), else None.
    shard: Shard | None

    @classmethod
    def make(
        cls, key: str, capacity: int, ttl_ms: int, durable: bool, shard: Shard | None
    ) -> Route:
        prefix = script_prefix("send", 7, [key]) + bulk(capacity) + bulk(ttl_ms)
        push = b"*3\r\n" + _RPUSH + bulk(key)
        expire = pack(b"PEXPIRE", key, 2 * ttl_ms)
        return cls(key, capacity, ttl_ms, durable, prefix, push, expire, shard)


class Pushes(Batch[Route]):
    """Plain sends to one list that follow each other in one turn of the loop: one
    ``RPUSH`` of every entry, then ``PEXPIRE`` (what :attr:`Route.push` is for one).
    Each send learns the list's length just after its own entry, as from a push of its
    own, and so whether it went past the capacity."""

    __slots__ = ()

    after = 1  # PEXPIRE

    @classmethod
    def alone(cls, key: Route, part: bytes) -> bytes:
        return bulk_between(key.push, part, key.expire)

    def packed(self) -> bytes:
        parts = self.parts
        route = self.key
        head = b"*%d\r\n%s%s" % (2 + len(parts), _RPUSH, bulk(route.key))
        return head + b"".join(map(bulk, parts)) + route.expire

    def settle(self, future: asyncio.Future[Any], reply: Any) -> None:
        members = self.members
        if type(reply) is not int:  # an error: every send's
            for sent, settle in members:
                settle(sent, reply)
            return
        first = reply - len(members)
        for n, (sent, settle) in enumerate(members, 1):
            settle(sent, first + n)


@dataclass(frozen=True, slots=True)
class Place:
    """The channels of a receive that one script, or one blocking pop, can take from:
    one shard (one slot of a cluster)."""

    key: str  # the list of its first channel: the topology says which shard holds it
    channels: list[str]
    pop_keys: list[str]  # (list, held zset, held hash) per channel, as the pop scripts take
    modes: str  # per channel: n plain, b process inbox, d durable (scripts.POP)
    waits: list[str]  # lists a blocking pop waits on (the non-durable channels)
    #: The pop script's EVALSHA up to its last argument, the index to start at.
    pop: bytes
    #: Plain channels only: LPOP (one list) or LMPOP commands, one per rotation of the
    #: lists (each list first in turn: none starves the others), packed.
    takes: list[tuple[tuple[Arg, ...], bytes]]


@dataclass(slots=True)
class Plan:
    places: list[Place]
    #: Plain channels of one place: a blocking pop can take a message as it comes.
    direct: bool
    durable: bool  # some channel is durable: waiting is polling
    #: The last receive found a message: the next looks without blocking first.
    flowing: bool = field(default=False)
    #: Lists of one place, none durable (process inboxes too): a batch is one
    #: ``LMPOP``/``BLMPOP`` (a single receive on an inbox takes a batch by script).
    lists: bool = field(default=False)
    #: The look without blocking of a direct plan, kept once made (see taker.py).
    taker: Taker | None = field(default=None)


def make_plan(
    channels: list[str],
    place_of: Callable[[str], Hashable],
    list_key: Callable[[str], str],
    held: Callable[[str], tuple[str, str]],
    durable: Callable[[str], bool],
    pop_args: list[int],
) -> Plan:
    """The plan of a receive on ``channels``: grouped by place, each with its pop
    script's keys and packed arguments (``pop_args``: batch, visibility, held ttl)."""
    by_place: dict[Hashable, list[str]] = {}
    for channel in dict.fromkeys(channels):
        by_place.setdefault(place_of(list_key(channel)), []).append(channel)
    places = []
    for names in by_place.values():
        keys = [k for c in names for k in (list_key(c), *held(c))]
        modes = "".join("d" if durable(c) else "b" if c.endswith("!") else "n" for c in names)
        waits = [list_key(c) for c in names if not durable(c)]
        words: list[Arg] = [modes, *pop_args]
        pop = script_prefix("pop", 3 + len(keys) + 5, keys) + b"".join(map(bulk, words))
        takes = _takes(waits) if modes == "n" * len(names) else []
        places.append(Place(list_key(names[0]), names, keys, modes, waits, pop, takes))
    any_durable = any(durable(c) for c in channels)
    lists = len(places) == 1 and not any_durable
    direct = lists and not any(c.endswith("!") for c in channels)
    return Plan(places, direct, any_durable, lists=lists)


def _takes(lists: list[str]) -> list[tuple[tuple[Arg, ...], bytes]]:
    if len(lists) == 1:
        commands: list[tuple[Arg, ...]] = [(b"LPOP", lists[0])]
    else:
        rotations = [lists[i:] + lists[:i] for i in range(len(lists))]
        commands = [(b"LMPOP", len(lists), *keys, b"LEFT") for keys in rotations]
    return [(command, pack(*command)) for command in commands]
