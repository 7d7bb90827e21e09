"""``redis+cluster://``: the layer on a real three-primary Redis Cluster.

Every key carries a hash tag, so each Lua script and each blocking pop touches one slot
(the cluster refuses anything else, so the conformance suite passing on it shows the
scripts obey); redis-py's cluster client knows the slots and follows MOVED and ASK.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.crc import key_slot

from gateways.layers import LayerUnavailable
from tests.redis.conftest import commands, reset_stats, wait_blocked

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def cluster(redis_cluster_group, redis_cluster_layer_url):
    return redis_cluster_group


async def test_a_channel_keeps_its_keys_in_one_slot_and_channels_spread(cluster, open_layer):
    layer = open_layer(cluster.url, durable_channels=["jobs.*"])
    channels = [f"jobs.{i}" for i in range(12)]
    for channel in channels:
        await layer.send(channel, {"c": channel})
    holders = {cluster.holder(f"gateways:c:{{{c}}}").port for c in channels}
    assert holders == {node.port for node in cluster.nodes}
    await layer.receive(["jobs.0"], timeout=1)  # now in flight: its held keys exist
    slots = {key_slot(f"gateways:{kind}:{{jobs.0}}".encode()) for kind in "chm"}
    assert len(slots) == 1
    assert cluster.holder("gateways:h:{jobs.0}") is cluster.owner("gateways:c:{jobs.0}")


async def test_group_send_reaches_members_on_every_node(cluster, open_layer):
    one, other = open_layer(cluster.url), open_layer(cluster.url)
    sockets = [await one.new_channel("ws") for _ in range(3)] + [await other.new_channel("ws")]
    plain = [f"room.member.{i}" for i in range(9)]
    for member in [*sockets, *plain]:
        await one.group_add("room", member)
    queues = {member.split("!")[0] + "!" if "!" in member else member for member in sockets}
    places = {cluster.holder(f"gateways:g:{{{q}}}room").port for q in [*queues, *plain]}
    assert len(places) == 3  # one membership set per member queue, beside its list
    await one.group_discard("room", plain[0])
    await other.group_send("room", {"text": "hi"})
    for member in [*sockets[:3], *plain[1:]]:
        assert await one.receive([member], timeout=1) == (member, {"text": "hi"})
    assert await other.receive([sockets[3]], timeout=1) == (sockets[3], {"text": "hi"})
    assert await one.receive([plain[0]], timeout=0.05) == (None, None)


async def test_one_receive_waits_on_every_node(cluster, open_layer):
    layer, sender = open_layer(cluster.url), open_layer(cluster.url)
    channels = [f"job.{i}" for i in range(12)]
    for channel in channels:
        waiting = asyncio.ensure_future(layer.receive(channels, timeout=5))
        await wait_blocked(cluster.nodes)  # the receive waits on all three nodes
        await sender.send(channel, {"c": channel})
        assert await waiting == (channel, {"c": channel})
    assert await layer.receive(channels, timeout=0.1) == (None, None)


async def test_parked_messages_of_inboxes_on_several_nodes_are_released(cluster, open_layer):
    groups: list[str] = []
    owners: set = set()
    while len(groups) < 6 or len(owners) < 2:  # inbox names are random: some share a node
        assert len(groups) < 60, "every inbox landed on one node"
        layer = open_layer(cluster.url, order_timeout=0.2)
        groups.append(await layer.new_channel("test.conn"))
        inbox = groups[-1].split("!")[0] + "!"
        owners.add(cluster.owner(f"gateways:od:{{{inbox}}}"))
    worker = layer
    for group in groups:
        assert not await worker.order_begin(group, 1, "test.g", {"group": group})
    assert cluster.exists("gateways:oi")  # the inboxes with parked messages
    released: list = []
    async with asyncio.timeout(5):
        while len(released) < len(groups):
            released += await worker.order_release()
            await asyncio.sleep(0.05)  # the layer's clock decides when
    assert sorted(group for group, _ in released) == sorted(groups)
    for group in groups:
        assert await worker.order_end(group, 1) == (None, False)
    assert await worker.order_release() == []
    assert not cluster.exists("gateways:oi")  # nothing parked: every inbox unlisted


async def test_the_layer_follows_a_slot_moved_to_another_node(cluster, open_layer):
    """Mid-migration a send is redirected with ASK; after it, with MOVED: redis-py's
    cluster client follows both, and the layer's own connections follow its table."""
    layer = open_layer(cluster.url)
    key = "gateways:c:{moving}"
    await layer.send("moving", {"n": 1})
    source = cluster.holder(key)
    target = next(node for node in cluster.nodes if node is not source)
    slot = key_slot(key.encode())
    reset_stats(source, target)
    cluster.begin_migration(slot, source, target, [key])
    await layer.send("moving", {"n": 2})  # ASK: onto the target, the table unchanged
    assert errors(source, "ASK") >= 1 and commands(target, "asking") == 1
    cluster.end_migration(slot, target)
    assert cluster.holder(key) is target
    await layer.send("moving", {"n": 3})  # MOVED: redis-py updates its table
    moved = errors(source, "MOVED")
    assert moved >= 1
    got = [await layer.receive(["moving"], timeout=1) for _ in range(3)]
    assert [message["n"] for _, message in got] == [1, 2, 3]
    assert errors(source, "MOVED") == moved  # the receive went straight to the new owner


def errors(server, name: str) -> int:
    """How many ``name`` error replies (MOVED, ASK) ``server`` gave since its stats reset."""
    with server.client() as client:
        return int(client.info("errorstats").get(f"errorstat_{name}", {}).get("count", 0))


async def test_a_node_down_fails_fast_and_the_same_layer_works_once_it_is_back(
    make_cluster_group, open_layer
):
    group = make_cluster_group()
    layer = open_layer(group.url)
    channels = [f"work.{i}" for i in range(12)]  # on every node
    for channel in channels:
        await layer.send(channel, {"c": channel})
    down = group.owner("gateways:c:{work.0}")
    elsewhere = next(c for c in channels if group.owner(f"gateways:c:{{{c}}}") is not down)
    down.kill()
    started = time.monotonic()
    with pytest.raises(LayerUnavailable):
        await layer.send("work.0", {})
    assert time.monotonic() - started < 2
    down.start(keep_port=True)  # it reads its nodes.conf and rejoins
    async with asyncio.timeout(20):
        while True:
            try:
                await layer.send("work.0", {"c": "again"})
                break
            except LayerUnavailable:
                await asyncio.sleep(0.05)  # until the cluster is ok again
    assert await layer.receive(["work.0"], timeout=1) == ("work.0", {"c": "again"})
    assert await layer.receive([elsewhere], timeout=1) == (elsewhere, {"c": elsewhere})
