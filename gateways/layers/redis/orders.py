"""Message-group records (gateways.layers.ordering) kept in Redis, one Lua script per
step, so a worker that parks a message and a worker that ends its predecessor never
miss each other.

A connection's record lives with its interface's inbox (keys.py), beside the inbox's
set of groups with parked messages (``od``). Flat layout: one ``od`` per shard, which
``order_release`` looks at on every shard. Tagged layout (Redis Cluster): one ``od`` per
inbox, and ``oi`` lists the inboxes whose ``od`` may hold something: a park that finds
its ``od`` empty lists the inbox; a release that finds it empty unlists it, unless a
park listed it again meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from gateways.layers.base import real_channel
from gateways.layers.errors import LayerUnavailable
from gateways.layers.redis.resp import Arg
from gateways.plugin import Throttled

if TYPE_CHECKING:
    from gateways.layers.redis.keys import KeySpace
    from gateways.layers.redis.shard import Shard
    from gateways.layers.redis.topology import Topology

log = logging.getLogger("gateways.layers.redis")
_warn = Throttled(log)

#: Most groups one release script hands out.
RELEASE_BATCH = 100


class RedisOrders:
    """The order-record methods of :class:`~gateways.layers.redis.layer.RedisChannelLayer`."""

    keys: KeySpace
    topology: Topology
    _order_timeout_ms: int
    _order_ttl_ms: int

    async def _ready(self) -> None:
        raise NotImplementedError

    def _order_keys(self, group: str) -> tuple[Shard, list[str]]:
        """A group's record lives with the group's own inbox (its interface's server)."""
        keys = self.keys.order(group)
        return self.topology.shard_of(keys[0]), keys

    async def _order_begin(self, group: str, seq: int, channel: str, data: bytes) -> bool:
        await self._ready()
        shard, keys = self._order_keys(group)
        payload = channel.encode() + b"\0" + data
        args: list[Arg] = [seq, payload, self._order_timeout_ms, self._order_ttl_ms, group]
        reply = await shard.script("order_begin", keys, args)
        if reply == 2 and self.keys.tagged:
            await self._enlist(real_channel(group))
        return bool(reply == 1)

    async def _enlist(self, inbox: str) -> None:
        """List an inbox that now has parked messages, for the release of any worker.
        If that fails, the message stays parked and is handed over as usual; only its
        release after a dead worker waits for the inbox's next park."""
        registry = self.keys.order_inboxes
        try:
            await self.topology.shard_of(registry).script(
                "order_enlist", [registry], [inbox, self._order_ttl_ms]
            )
        except LayerUnavailable as exc:
            _warn.warning("enlist", "could not list %s for releases: %s", inbox, exc)

    async def _order_end(
        self, group: str, seq: int, last: bool = False
    ) -> tuple[tuple[str, bytes] | None, bool]:
        await self._ready()
        shard, keys = self._order_keys(group)
        args: list[Arg] = [seq, self._order_timeout_ms, self._order_ttl_ms, group, int(last)]
        reply = await shard.script("order_end", keys, args)
        return (_parked(reply[1]) if len(reply) > 1 else None), bool(reply[0])

    async def _order_wait(self, group: str, seq: int) -> bool:
        await self._ready()
        shard, keys = self._order_keys(group)
        return bool(await shard.script("order_wait", keys[:1], [seq, self._order_ttl_ms]))

    async def _order_release(self) -> list[tuple[str, tuple[str, bytes]]]:
        await self._ready()
        if not self.keys.tagged:
            due = self.keys.order_due("")
            places = [(shard, due, self.keys.order_prefix("")) for shard in self.topology.shards]
            replies = await asyncio.gather(*(self._release(*place) for place in places))
            return [found for _, released in replies for found in released]
        registry = self.keys.order_inboxes
        listing = self.topology.shard_of(registry)
        now, *inboxes = await listing.script("order_inboxes", [registry], [])
        names = [inbox.decode() for inbox in inboxes]
        replies = await asyncio.gather(
            *(
                self._release(
                    self.topology.shard_of(self.keys.order_due(inbox)),
                    self.keys.order_due(inbox),
                    self.keys.order_prefix(inbox),
                )
                for inbox in names
            )
        )
        empty = [inbox for inbox, (left, _) in zip(names, replies, strict=True) if not left]
        if empty:
            await listing.script("order_delist", [registry], [now, *empty])
        return [found for _, released in replies for found in released]

    async def _release(
        self, shard: Shard, due: str, records: str
    ) -> tuple[int, list[tuple[str, tuple[str, bytes]]]]:
        """One release script: how many groups stay due, and what it handed out."""
        args: list[Arg] = [records, self._order_timeout_ms, RELEASE_BATCH]
        left, *reply = await shard.script("order_release", [due], args)
        released = [(reply[i].decode(), _parked(reply[i + 1])) for i in range(0, len(reply), 2)]
        return int(left), released


def _parked(payload: bytes) -> tuple[str, bytes]:
    channel, _, data = payload.partition(b"\0")
    return channel.decode(), data
