"""Groups on Redis: a membership lives beside its member's list, so a group_send is one
script per place that reads its members and pushes to them in place (no member list
crosses the wire).

- Flat layout (shards, Sentinel): each shard holds one set per group, of the members
  whose lists it holds; a group_send runs on every shard.
- Tagged layout (Redis Cluster), where a script may only touch keys of one slot: one
  set per group *and member queue* (the members that share a list: one channel, or
  one process's ``prefix!`` inbox), tagged with that queue, and an index of those
  queues tagged with the group. A group_send reads the index, then runs one script per
  queue, all at once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from gateways.layers.base import real_channel

if TYPE_CHECKING:
    from gateways.layers.redis.keys import KeySpace
    from gateways.layers.redis.shard import Shard
    from gateways.layers.redis.topology import Topology

#: Members per group_send script call (bounds how long one script holds a server).
GROUP_CHUNK = 2000


class RedisGroups:
    """The group methods of :class:`~gateways.layers.redis.layer.RedisChannelLayer`."""

    keys: KeySpace
    topology: Topology
    expiry: float
    group_expiry: float
    _sizes: list[str | int]

    async def _ready(self) -> None:
        raise NotImplementedError

    def _members_of(self, group: str, channel: str) -> tuple[Shard, list[str]]:
        """Where ``channel``'s membership of ``group`` lives: its list's server."""
        queue = real_channel(channel)
        shard = self.topology.shard_of(self.keys.queue(queue))
        return shard, self.keys.members(group, queue)

    async def _group_add(self, group: str, channel: str) -> None:
        await self._ready()
        ms = int(self.group_expiry * 1000)
        if self.keys.tagged:  # the index first: a group_send never misses a member
            index = self.keys.member_queues(group)
            queue = real_channel(channel)
            await self.topology.shard_of(index).script("group_add", [index], [queue, ms])
        shard, keys = self._members_of(group, channel)
        await shard.script("group_add", keys, [channel, ms])

    async def _group_discard(self, group: str, channel: str) -> None:
        await self._ready()
        shard, keys = self._members_of(group, channel)
        await shard.call(b"ZREM", keys[0], channel)

    async def _group_send(self, group: str, data: bytes) -> None:
        await self._ready()
        lists, tail = self.keys.list_affixes
        args = [data, int(self.expiry * 1000), lists, tail, GROUP_CHUNK, *self._sizes]
        if self.keys.tagged:
            index = self.keys.member_queues(group)
            queues = await self.topology.shard_of(index).script("group_queues", [index], [])
            places = [
                self._members_of(group, queue.decode()) for queue in queues
            ]  # a queue name is its own real channel
        else:
            places = [(shard, self.keys.members(group, "")) for shard in self.topology.shards]
        if len(places) == 1:
            await self._group_send_on(*places[0], args)
        else:
            await asyncio.gather(*(self._group_send_on(s, keys, args) for s, keys in places))

    @staticmethod
    async def _group_send_on(shard: Shard, keys: list[str], args: list[Any]) -> None:
        """One call in the common case; members beyond GROUP_CHUNK come back and go out
        in further calls (the same snapshot of the group, never a member twice)."""
        started, *rest = await shard.script("group_send", keys, args)
        for i in range(0, len(rest), GROUP_CHUNK):
            last = int(i + GROUP_CHUNK >= len(rest))
            chunk = rest[i : i + GROUP_CHUNK]
            await shard.script("group_send", keys, [*args, started, last, *chunk])
