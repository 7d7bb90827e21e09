"""Redis Cluster: each key on the primary that owns its slot, as redis-py's
``RedisCluster`` client knows the cluster.

The layer's hot path keeps its own pipelined connections (resp.py), one shard per
primary, routed by redis-py's slot table (``get_node_from_key``). Whatever redis-py
handles for a cluster is left to it: a command that a node redirects (``MOVED``,
``ASK``, ``TRYAGAIN``, ``CLUSTERDOWN``) is run again through ``RedisCluster.execute_command``,
which follows the redirection and updates the slot table the next commands use; a node
that cannot be reached marks the table stale, and the next operation has redis-py read
it again (``initialize``). Blocking pops are not redirected (they wait on a connection
of their own): a moved slot fails the pop with ``LayerUnavailable``, and the caller's
next receive uses the new table.

Every key carries a hash tag (keys.py), so each script and each blocking pop touches
one slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from typing import Any

from redis.crc import key_slot
from redis.exceptions import RedisClusterException, RedisError

from gateways.layers.errors import LayerUnavailable
from gateways.layers.redis.resp import Arg
from gateways.layers.redis.settings import ClusterAddress, ShardAddress
from gateways.layers.redis.shard import ServerHooks, Shard
from gateways.layers.redis.topology import Topology

#: Shortest time between two readings of the slot table while nodes keep failing.
REFRESH_EVERY = 0.2


class ClusterTopology(Topology, ServerHooks):
    tagged = True

    def __init__(self, address: ClusterAddress, **shard: Any) -> None:
        from redis.asyncio.cluster import ClusterNode, RedisCluster
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.address = address
        self.name = ",".join(f"{host}:{port}" for host, port in address.nodes)
        self._shard_options = shard
        self.client = RedisCluster.from_url(
            address.node_url(*address.nodes[0]),
            startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
            socket_timeout=shard["socket_timeout"],
            socket_connect_timeout=shard["socket_connect_timeout"],
            # Redirections are followed; a node that is down fails the call at once (no
            # retries with back-off inside): the layer's callers retry.
            retry=Retry(NoBackoff(), 0),
        )
        self._made: dict[str, Shard] = {}
        self.stale = True  # nothing learnt yet
        self._refreshing: asyncio.Lock | None = None
        self._refreshed_at = float("-inf")

    def __repr__(self) -> str:
        return f"<ClusterTopology {self.name}>"

    def _shard(self, host: str, port: int) -> Shard:
        name = f"{host}:{port}"
        found = self._made.get(name)
        if found is None:
            address = ShardAddress(self.address.node_url(host, port), name)
            found = self._made[name] = Shard(address, hooks=self, **self._shard_options)
        return found

    @property
    def shards(self) -> list[Shard]:
        return [self._shard(node.host, int(node.port)) for node in self.client.get_primaries()]

    def opened(self) -> list[Shard]:
        return list(self._made.values())

    def shard_of(self, key: str) -> Shard:
        try:
            node = self.client.get_node_from_key(key)
        except (RedisError, RedisClusterException) as exc:  # no known primary has the slot
            self.stale = True
            raise LayerUnavailable(f"redis cluster {self.name}: {exc}") from exc
        assert node is not None  # only a replica can be missing
        return self._shard(node.host, int(node.port))

    def place_of(self, key: str) -> Hashable:
        return key_slot(key.encode())

    async def refresh(self) -> None:
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            if not self.stale or time.monotonic() - self._refreshed_at < REFRESH_EVERY:
                return  # meanwhile, the table in hand
            self._refreshed_at = time.monotonic()
            try:
                await self.client.aclose()  # forgets the table: initialize reads it anew
                await self.client.initialize()
            except (RedisError, RedisClusterException, OSError) as exc:
                raise LayerUnavailable(f"redis cluster {self.name}: {exc}") from exc
            self.stale = False

    # -- ServerHooks: what a shard (a primary) reports -----------------------------------

    def lost(self) -> None:
        self.stale = True

    async def redirected(self, *command: Arg) -> Any:
        name, *args = command
        name = name.decode() if isinstance(name, bytes) else str(name)  # redis-py looks it up
        return await self.client.execute_command(name, *args)

    async def _close_own(self) -> None:
        await self.client.aclose()
