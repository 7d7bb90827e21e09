"""``open_layer``: Redis layers for one test, closed after it (servers come from
tests/fixtures/redis_server.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateways.layers import get_layer
from gateways.layers.redis.layer import RedisChannelLayer


@pytest.fixture
async def open_layer() -> AsyncIterator[Callable[..., RedisChannelLayer]]:
    made: list[RedisChannelLayer] = []

    def make(url: str, **options: Any) -> RedisChannelLayer:
        layer = get_layer(url, **options)
        assert isinstance(layer, RedisChannelLayer)
        made.append(layer)
        return layer

    yield make
    for layer in made:
        await layer.close()


def commands(server: Any, name: str) -> int:
    """How many times ``name`` ran (and did not fail, e.g. NOSCRIPT before a script is
    loaded) on ``server`` since its stats were reset."""
    with server.client() as client:
        stats = client.info("commandstats").get(f"cmdstat_{name}", {})
    return int(stats.get("calls", 0)) - int(stats.get("failed_calls", 0))


def reset_stats(*servers: Any) -> None:
    for server in servers:
        with server.client() as client:
            client.config_resetstat()


async def wait_blocked(servers: Any, count: int = 1, timeout: float = 5.0) -> None:
    """Wait until each server has ``count`` clients blocked in a pop (so a test sends
    only once a receive is really waiting)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for server in servers:
        async with server.async_client() as client:
            while (await client.info("clients"))["blocked_clients"] < count:
                assert loop.time() < deadline, f"no pop blocked on {server.address}"
                await asyncio.sleep(0.005)  # polling a condition, not a fixed wait


def on_every_shard(layer: RedisChannelLayer, prefix: str, per_shard: int) -> list[str]:
    """``per_shard`` channel names on each of the layer's shards, in rounds of one per
    shard. The ring places servers by address and tests take random ports, so fixed
    names could all miss a shard; these are picked by where they land."""
    picked: list[list[str]] = [[] for _ in layer.shards]
    names = (f"{prefix}.{n}" for n in itertools.count())
    while not all(len(found) == per_shard for found in picked):
        name = next(names)
        found = picked[layer.ring[layer.keys.queue(name)]]
        if len(found) < per_shard:
            found.append(name)
    return [name for round_ in zip(*picked, strict=True) for name in round_]
