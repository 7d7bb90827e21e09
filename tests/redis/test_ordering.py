"""Message groups kept in Redis are shared by every process: two layer objects (two
worker processes' views) see each other's parked messages and ends."""

from __future__ import annotations

import asyncio

import pytest

from gateways.layers import get_layer

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def two_views(redis_sharded_layer_url):
    first, second = get_layer(redis_sharded_layer_url), get_layer(redis_sharded_layer_url)
    yield first, second
    await first.flush()
    await first.close()
    await second.close()


async def test_a_message_parked_by_one_worker_is_handed_to_the_worker_that_ends_its_predecessor(
    two_views,
):
    one, other = two_views
    group = await one.new_channel("test.conn")
    assert await one.order_begin(group, 0, "test.g", {"n": 0})
    assert not await other.order_begin(group, 1, "test.g", {"n": 1})
    assert await one.order_end(group, 0) == (("test.g", {"n": 1}), False)
    assert await one.order_end(group, 1) == (None, False)
    assert await other.order_begin(group, 2, "test.g", {"n": 2})


async def test_the_wake_up_an_interface_asked_for_reaches_whichever_worker_ends(two_views):
    interface, worker = two_views
    group = await interface.new_channel("test.conn")
    assert not await interface.order_wait(group, 1)
    assert await worker.order_end(group, 0) == (None, False)
    assert await worker.order_end(group, 1) == (None, True)


async def test_overdue_groups_are_released_from_every_shard(redis_sharded_layer_url):
    """Interfaces' inboxes (and so their groups' records) sit on different servers; one
    worker's release looks at all of them."""
    interfaces = [get_layer(redis_sharded_layer_url, order_timeout=0.1) for _ in range(12)]
    groups = [await layer.new_channel("test.conn") for layer in interfaces]
    shards = {interfaces[0]._order_keys(group)[0].name for group in groups}
    assert len(shards) > 1, "the groups should spread over the servers"
    for layer, group in zip(interfaces, groups, strict=True):
        assert not await layer.order_begin(group, 1, "test.g", {"group": group})
    worker = get_layer(redis_sharded_layer_url, order_timeout=0.1)
    released: list = []
    async with asyncio.timeout(10):
        while len(released) < len(groups):
            released += await worker.order_release()
            await asyncio.sleep(0.05)
    assert sorted(group for group, _ in released) == sorted(groups)
    assert all(message == {"group": group} for group, (_, message) in released)
    await worker.flush()
    for layer in [worker, *interfaces]:
        await layer.close()
