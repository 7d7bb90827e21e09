"""``redis+sentinel://``: a primary that Sentinels name, followed through a failover.

Real servers on loopback (tests/fixtures/redis_ha.py): a primary, its replicas and
Sentinels. Durable sends wait for a replica (``durable_replicas``, 1 behind Sentinel),
so a message the layer accepted survives the primary's death.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from gateways.layers import LayerUnavailable

pytestmark = pytest.mark.timeout(60)


async def send_until_accepted(layer, channel: str, message: dict, within: float = 20) -> int:
    """Send until the layer accepts; how many attempts were refused meanwhile."""
    refused = 0
    deadline = time.monotonic() + within
    while True:
        try:
            await layer.send(channel, message)
            return refused
        except LayerUnavailable:
            refused += 1
            assert time.monotonic() < deadline, "the layer did not come back"
            await asyncio.sleep(0.05)  # polling the layer, not a fixed wait


async def drain(layer, channel: str) -> list[int]:
    """Every message number on a durable channel, acknowledged as it comes."""
    numbers = []
    while True:
        got, message = await layer.receive([channel], timeout=0.5)
        if got is None:
            return numbers
        numbers.append(message["n"])
        await layer.ack(got, message)


async def test_the_layer_follows_a_killed_primary_and_loses_no_durable_message(
    make_sentinel_group, open_layer
):
    group = make_sentinel_group(replicas=2, sentinels=3)
    layer = open_layer(group.url, durable_channels=["jobs.*"])
    for n in range(20):
        await layer.send("jobs.mail", {"n": n})  # each one on a replica before it returns
    await layer.send("plain", {"before": True})
    old = group.primary_address()
    group.server_at(old).kill()
    started = time.monotonic()
    with pytest.raises(LayerUnavailable):
        await layer.send("plain", {})
    assert time.monotonic() - started < 2  # fails fast, no hanging call
    refused = await send_until_accepted(layer, "jobs.mail", {"n": 20})
    took = time.monotonic() - started
    assert refused > 0 and group.primary_address() != old
    assert sorted(await drain(layer, "jobs.mail")) == list(range(21))
    print(f"failover: {took:.1f}s, {refused} sends refused meanwhile")


async def test_a_graceful_failover_moves_the_layer_to_the_new_primary(
    make_sentinel_group, open_layer
):
    """SENTINEL FAILOVER leaves the old primary up and writable (until Sentinel turns it
    into a replica, seconds later) but without replicas once Sentinel has moved them:
    the first durable send there is refused, the layer asks the Sentinels again and
    moves to the new primary."""
    group = make_sentinel_group(replicas=2, sentinels=1)
    layer = open_layer(group.url, durable_channels=["jobs.*"], socket_timeout=0.5)
    await send_until_accepted(layer, "jobs.mail", {"n": 0})  # WAIT gives replicas 0.5 s
    old = group.server_at(group.primary_address())
    with group.sentinels[0].client() as sentinel:
        assert sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster")
    async with asyncio.timeout(20):
        while group.primary_address() == old.address or group.online(old):  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # Sentinel's view and the replicas' links
    with old.client() as client:
        assert client.role()[0] == b"master"  # still: a plain write to it would be lost
    assert await send_until_accepted(layer, "jobs.mail", {"n": 1}) >= 1  # refused there
    with group.server_at(group.primary_address()).client() as client:
        assert client.llen("gateways:c:jobs.mail") >= 2  # both on the new primary
    assert set(await drain(layer, "jobs.mail")) == {0, 1}  # at least once


async def test_a_durable_send_counts_only_once_a_replica_has_it(make_sentinel_group, open_layer):
    group = make_sentinel_group(replicas=1, sentinels=1)
    layer = open_layer(group.url, durable_channels=["jobs.*"])
    await layer.send("jobs.mail", {"n": 0})
    group.replicas[0].kill()
    with pytest.raises(LayerUnavailable, match="reached 0 of 1 replica"):
        await layer.send("jobs.mail", {"n": 1})
    await layer.send("plain", {"n": 2})  # other channels do not wait for replicas
    relaxed = open_layer(group.url, durable_channels=["jobs.*"], durable_replicas=0)
    await relaxed.send("jobs.mail", {"n": 3})
    # the refused send is on the primary all the same: at least once, never lost
    assert sorted(await drain(layer, "jobs.mail")) == [0, 1, 3]


async def test_a_url_whose_first_sentinel_is_down_still_finds_the_primary(
    redis_sentinel_group, open_layer
):
    dead = "127.0.0.1:1"  # nothing listens there
    url = redis_sentinel_group.url.replace("redis+sentinel://", f"redis+sentinel://{dead},")
    layer = open_layer(url)
    await layer.send("test.x", {"n": 1})
    assert await layer.receive(["test.x"], timeout=1) == ("test.x", {"n": 1})


async def test_an_unknown_service_is_layer_unavailable(redis_sentinel_group, open_layer):
    layer = open_layer(redis_sentinel_group.url.replace("/mymaster/", "/nosuch/"))
    with pytest.raises(LayerUnavailable, match="No master found for 'nosuch'"):
        await layer.send("test.x", {})
