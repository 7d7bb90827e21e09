"""Which server holds a key: the layer asks its topology, whatever the deployment.

- :class:`RingTopology`: fixed servers, each key on the one a consistent-hash ring
  picks (one server is a ring of one; a Sentinel-managed primary is one server whose
  address Sentinel gives, see sentinel.py).
- :class:`~gateways.layers.redis.cluster.ClusterTopology`: Redis Cluster, each key on
  the primary that owns its slot, as redis-py's cluster client knows it.

A *place* groups keys that one script or one blocking pop may touch together: a
shard of the ring, a slot of the cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from typing import Any

from gateways.layers.errors import LayerUnavailable
from gateways.layers.redis.ring import HashRing
from gateways.layers.redis.settings import ShardAddress
from gateways.layers.redis.shard import ServerHooks, Shard


class Topology:
    #: Keys carry hash tags (keys.py) so that what a script touches shares a slot.
    tagged = False
    #: The layout may have changed: :meth:`refresh` before the next operation.
    stale = False

    @property
    def shards(self) -> list[Shard]:
        """Every server holding keys (each primary of a cluster)."""
        raise NotImplementedError

    def shard_of(self, key: str) -> Shard:
        raise NotImplementedError

    def place_of(self, key: str) -> Hashable:
        raise NotImplementedError

    def pinned(self, key: str) -> Shard | None:
        """The server that holds ``key`` for good (a ring's), which a hot path may keep;
        None: ask :meth:`shard_of` each time (a cluster's slots move)."""
        return None

    async def refresh(self) -> None:
        """Learn the layout again (after :attr:`stale` was set)."""

    def opened(self) -> list[Shard]:
        """Every shard made so far (to close)."""
        return self.shards

    async def close(self) -> None:
        results = await asyncio.gather(
            *(shard.close() for shard in self.opened()), self._close_own(), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, LayerUnavailable):
                raise result

    async def _close_own(self) -> None:
        """Close what the topology opened beside its shards (redis-py clients)."""


class RingTopology(Topology):
    def __init__(
        self, addresses: Sequence[ShardAddress], hooks: ServerHooks | None, **shard: Any
    ) -> None:
        self._shards = [Shard(address, hooks=hooks, **shard) for address in addresses]
        self.ring = HashRing([address.name for address in addresses])
        self._hooks = hooks

    @property
    def shards(self) -> list[Shard]:
        return self._shards

    def shard_of(self, key: str) -> Shard:
        return self._shards[self.ring[key]]

    def place_of(self, key: str) -> Hashable:
        return self.ring[key]

    def pinned(self, key: str) -> Shard | None:
        return self.shard_of(key)

    async def _close_own(self) -> None:
        closing = getattr(self._hooks, "close", None)
        if closing is not None:
            await closing()
