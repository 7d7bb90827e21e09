"""A primary named by Redis Sentinel: redis-py's ``Sentinel`` finds it, the layer's own
connections (resp.py) talk to it.

Why not redis-py's ``SentinelConnectionPool``: the layer's commands share one
pipelined connection and its blocking pops need connections that can be abandoned
without losing a message (shard.py); both only need *where* the primary is. So the
address comes from ``Sentinel.discover_master`` (which asks each Sentinel in turn and
skips a primary they see as down) and is kept until a connection fails, is refused a
write (``READONLY``: the server was demoted) or a durable write does not reach its
replicas; the next connection asks the Sentinels again. Sentinel itself closes the
clients of a primary it demotes, so everyone moves on promptly.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from gateways.layers.redis.resp import Endpoint
from gateways.layers.redis.settings import SentinelAddress
from gateways.layers.redis.shard import ServerHooks


class SentinelHooks(ServerHooks):
    def __init__(self, address: SentinelAddress, **connection: Any) -> None:
        from redis.asyncio.retry import Retry
        from redis.asyncio.sentinel import Sentinel
        from redis.backoff import NoBackoff

        self.service = address.service
        # No retries with back-off inside: a Sentinel that does not answer is skipped
        # at once for the next one, and the layer's caller retries the whole call.
        no_retry = Retry(NoBackoff(), 0)
        options = {**connection, "retry": no_retry, **dict(address.sentinel_options)}
        self.sentinel = Sentinel(list(address.sentinels), sentinel_kwargs=options)
        self._primary: tuple[str, int] | None = None
        self._asking: asyncio.Lock | None = None

    async def endpoint(self, configured: Endpoint) -> Endpoint:
        if self._asking is None:
            self._asking = asyncio.Lock()
        async with self._asking:  # one question to the Sentinels at a time
            if self._primary is None:
                host, port = await self.sentinel.discover_master(self.service)
                self._primary = (str(host), int(port))
        host, port = self._primary
        return dataclasses.replace(
            configured, host=host, port=port, name=f"{configured.name} at {host}:{port}"
        )

    def lost(self) -> None:
        self._primary = None

    async def close(self) -> None:
        await self.sentinel.aclose()
