"""The channel layer contract (design section 6). Every backend in LAYER_BACKENDS runs
all of it; a new layer is done when this file passes against it."""

from __future__ import annotations

import asyncio

import pytest

from gateways.layers import ChannelFull, MessageTooLarge

pytestmark = pytest.mark.timeout(30)


async def test_round_trip_keeps_types(layer):
    message = {
        "text": "héllo",
        "bytes": b"\x00\xff",
        "n": 3,
        "f": 1.5,
        "none": None,
        "flag": True,
        "list": [1, b"x", ["nested"]],
        "map": {"k": b"v"},
    }
    await layer.send("test.types", message)
    assert await layer.receive(["test.types"]) == ("test.types", message)


async def test_receive_times_out_with_none_pair(layer):
    assert await layer.receive(["test.empty"], timeout=0.05) == (None, None)


async def test_order_is_kept_per_channel(layer):
    for i in range(20):
        await layer.send("test.order", {"i": i})
    got = [(await layer.receive(["test.order"]))[1]["i"] for _ in range(20)]
    assert got == list(range(20))


async def test_receive_on_several_channels(layer):
    await layer.send("test.b", {"from": "b"})
    channel, message = await layer.receive(["test.a", "test.b"], timeout=1)
    assert (channel, message) == ("test.b", {"from": "b"})


async def test_waiting_receiver_wakes_on_send(layer):
    waiting = asyncio.ensure_future(layer.receive(["test.wake"], timeout=10))
    await asyncio.sleep(0)  # let the receive start waiting
    await layer.send("test.wake", {"x": 1})
    assert await asyncio.wait_for(waiting, 5) == ("test.wake", {"x": 1})


async def test_each_message_reaches_one_receiver(layer):
    receivers = [asyncio.ensure_future(layer.receive(["test.once"], timeout=2)) for _ in range(4)]
    await asyncio.sleep(0)
    for i in range(4):
        await layer.send("test.once", {"i": i})
    results = await asyncio.gather(*receivers)
    assert sorted(m["i"] for _, m in results) == [0, 1, 2, 3]


async def test_new_channel_is_process_specific(layer):
    first, second = await layer.new_channel("http.response"), await layer.new_channel()
    assert first.startswith("http.response.") and "!" in first
    assert second.startswith("specific.") and first != second
    await layer.send(first, {"to": "first"})
    assert await layer.receive([first], timeout=1) == (first, {"to": "first"})


async def test_prefix_receive_gets_every_suffix_with_its_full_name(layer):
    one, two = await layer.new_channel("reply"), await layer.new_channel("reply")
    assert one.split("!")[0] == two.split("!")[0]
    prefix = one.split("!")[0] + "!"
    await layer.send(one, {"n": 1})
    await layer.send(two, {"n": 2})
    assert await layer.receive([prefix], timeout=1) == (one, {"n": 1})
    assert await layer.receive([prefix], timeout=1) == (two, {"n": 2})


async def test_full_specific_receive_buffers_siblings(layer):
    one, two = await layer.new_channel("reply"), await layer.new_channel("reply")
    await layer.send(one, {"n": 1})
    await layer.send(two, {"n": 2})
    assert await layer.receive([two], timeout=1) == (two, {"n": 2})
    assert await layer.receive([one], timeout=1) == (one, {"n": 1})


@pytest.mark.parametrize("name", ["", "has space", "ünïcode", "a" * 100, "two!bangs!", "x/y"])
async def test_bad_channel_names_are_refused(layer, name):
    with pytest.raises(ValueError, match="channel name"):
        await layer.send(name, {})
    with pytest.raises(ValueError, match="channel name"):
        await layer.receive([name], timeout=0)


async def test_non_str_names_are_type_errors(layer):
    with pytest.raises(TypeError):
        await layer.send(b"bytes.name", {})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await layer.group_add(123, "test.x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of channel names"):
        await layer.receive("test.single")  # type: ignore[arg-type]


async def test_sending_to_a_bare_prefix_is_refused(layer):
    with pytest.raises(ValueError, match="needs a suffix"):
        await layer.send("reply.abc!", {})


@pytest.mark.parametrize("group", ["bad group", "g!x", "g" * 100])
async def test_bad_group_names_are_refused(layer, group):
    with pytest.raises(ValueError, match="group name"):
        await layer.group_add(group, "test.x")


@pytest.mark.parametrize("value", [object(), {1, 2}, {"nested": object()}])
async def test_unsendable_values_are_type_errors(layer, value):
    with pytest.raises(TypeError, match="cannot be sent"):
        await layer.send("test.bad", {"value": value})


async def test_message_must_be_a_dict(layer):
    with pytest.raises(TypeError, match="must be a dict"):
        await layer.send("test.bad", ["not", "a", "dict"])  # type: ignore[arg-type]


async def test_capacity_raises_channel_full_and_loses_nothing_kept(make_layer):
    layer = make_layer(capacity=3)
    for i in range(3):
        await layer.send("test.cap", {"i": i})
    with pytest.raises(ChannelFull):
        await layer.send("test.cap", {"i": 3})
    assert [(await layer.receive(["test.cap"]))[1]["i"] for _ in range(3)] == [0, 1, 2]
    await layer.send("test.cap", {"i": 4})  # room again


async def test_per_channel_capacity_by_glob(make_layer):
    layer = make_layer(capacity=2, channel_capacity={"big.*": 5})
    for i in range(5):
        await layer.send("big.one", {"i": i})
    with pytest.raises(ChannelFull):
        await layer.send("big.one", {})
    await layer.send("small", {})
    await layer.send("small", {})
    with pytest.raises(ChannelFull):
        await layer.send("small", {})


async def test_a_process_inbox_holds_more_than_one_channel_capacity(make_layer):
    # A broadcast to many sockets of one process must not overflow at ``capacity``.
    layer = make_layer(capacity=2, inbox_capacity=6)
    names = [await layer.new_channel("test.reply") for _ in range(6)]
    for name in names:
        await layer.send(name, {"to": name})
    with pytest.raises(ChannelFull):
        await layer.send(names[0], {"to": "one too many"})
    assert [(await layer.receive([name]))[1]["to"] for name in names] == names


async def test_inbox_capacity_follows_channel_capacity_globs(make_layer):
    layer = make_layer(inbox_capacity=6, channel_capacity={"test.small.*": 1})
    name = await layer.new_channel("test.small")
    await layer.send(name, {})
    with pytest.raises(ChannelFull):
        await layer.send(name, {})


async def test_messages_expire(make_layer):
    layer = make_layer(expiry=0.2)
    await layer.send("test.expire", {"old": True})
    await asyncio.sleep(0.4)  # the expiry itself is what is under test
    await layer.send("test.expire", {"old": False})
    assert await layer.receive(["test.expire"], timeout=1) == ("test.expire", {"old": False})
    assert await layer.receive(["test.expire"], timeout=0.05) == (None, None)


async def test_expired_messages_free_capacity(make_layer):
    layer = make_layer(expiry=0.2, capacity=1)
    await layer.send("test.free", {})
    await asyncio.sleep(0.4)
    await layer.send("test.free", {})  # does not raise ChannelFull


async def test_oversized_message_raises(make_layer):
    layer = make_layer(max_message_size=1000)
    with pytest.raises(MessageTooLarge):
        await layer.send("test.big", {"body": b"x" * 2000})
    await layer.send("test.big", {"body": b"x" * 500})


async def test_group_send_reaches_every_member(layer):
    members = [await layer.new_channel("member") for _ in range(3)] + ["test.plain"]
    for channel in members:
        await layer.group_add("room", channel)
    await layer.group_send("room", {"text": "hi"})
    for channel in members:
        assert await layer.receive([channel], timeout=1) == (channel, {"text": "hi"})


async def test_group_discard_and_unknown_groups(layer):
    await layer.group_add("room", "test.a")
    await layer.group_add("room", "test.b")
    await layer.group_discard("room", "test.a")
    await layer.group_discard("nobody", "test.a")
    await layer.group_send("empty-group", {"x": 1})
    await layer.group_send("room", {"x": 2})
    assert await layer.receive(["test.b"], timeout=1) == ("test.b", {"x": 2})
    assert await layer.receive(["test.a"], timeout=0.05) == (None, None)


async def test_group_add_twice_delivers_once(layer):
    await layer.group_add("room", "test.twice")
    await layer.group_add("room", "test.twice")
    await layer.group_send("room", {"x": 1})
    assert await layer.receive(["test.twice"], timeout=1) == ("test.twice", {"x": 1})
    assert await layer.receive(["test.twice"], timeout=0.05) == (None, None)


async def test_group_send_skips_full_members(make_layer):
    layer = make_layer(capacity=1)
    await layer.group_add("room", "test.full")
    await layer.group_add("room", "test.ok")
    await layer.send("test.full", {"first": True})
    await layer.group_send("room", {"x": 1})  # no ChannelFull: best effort per member
    assert await layer.receive(["test.ok"], timeout=1) == ("test.ok", {"x": 1})
    assert await layer.receive(["test.full"], timeout=1) == ("test.full", {"first": True})


async def test_group_memberships_expire(make_layer):
    layer = make_layer(group_expiry=0.2)
    await layer.group_add("room", "test.member")
    await asyncio.sleep(0.4)  # the expiry itself is what is under test
    await layer.group_send("room", {"x": 1})
    assert await layer.receive(["test.member"], timeout=0.05) == (None, None)


async def test_flush_empties_channels_and_groups(layer):
    await layer.send("test.flush", {})
    await layer.group_add("room", "test.flush")
    await layer.flush()
    await layer.group_send("room", {})
    assert await layer.receive(["test.flush"], timeout=0.05) == (None, None)


async def test_settings_are_checked(make_layer):
    with pytest.raises(ValueError, match="capacity"):
        make_layer(capacity=0)
    with pytest.raises(ValueError, match="expiry"):
        make_layer(expiry=-1)


# -- message groups (design section 6: one reply_channel at a time, in order) ----------


async def group_of(layer) -> str:
    return await layer.new_channel("test.conn")


async def test_a_group_message_runs_once_its_predecessor_ended(layer):
    group = await group_of(layer)
    assert await layer.order_begin(group, 0, "test.g", {"n": 0})
    assert not await layer.order_begin(group, 1, "test.g", {"n": 1})  # 0 still runs: parked
    following, wake = await layer.order_end(group, 0)
    assert following == ("test.g", {"n": 1}) and not wake  # whoever ends 0 runs 1 next
    assert await layer.order_end(group, 1) == (None, False)
    assert await layer.order_begin(group, 2, "test.g", {"n": 2})  # 1 ended: runs at once


async def test_parked_messages_are_handed_over_one_by_one_in_order(layer):
    group = await group_of(layer)
    for n in (3, 1, 2):  # taken by several workers, in any order
        assert not await layer.order_begin(group, n, f"test.g{n}", {"n": n})
    handed = []
    following, _ = await layer.order_end(group, 0)
    while following is not None:
        handed.append(following)
        following, _ = await layer.order_end(group, following[1]["n"])
    assert handed == [(f"test.g{n}", {"n": n}) for n in (1, 2, 3)]


async def test_groups_are_independent(layer):
    first, second = await group_of(layer), await group_of(layer)
    assert not await layer.order_begin(first, 1, "test.g", {"n": 1})
    assert await layer.order_begin(second, 0, "test.g", {"n": 0})
    assert await layer.order_end(second, 0) == (None, False)
    assert await layer.order_release() == []  # nothing is overdue


async def released_after_timeout(layer) -> list:
    """What ``order_release`` hands out once the layer's ``order_timeout`` has passed."""
    async with asyncio.timeout(5):
        while not (released := await layer.order_release()):  # noqa: ASYNC110 - layer clock
            await asyncio.sleep(0.05)
    return released


async def test_a_lost_predecessor_releases_its_group_after_the_order_timeout(make_layer):
    layer = make_layer(order_timeout=0.2)
    group = await group_of(layer)
    # 0 was taken by a worker that died: 1 and 2 wait, then 1 is released (2 follows it).
    assert not await layer.order_begin(group, 2, "test.g", {"n": 2})
    assert not await layer.order_begin(group, 1, "test.g", {"n": 1})
    assert await released_after_timeout(layer) == [(group, ("test.g", {"n": 1}))]
    assert await layer.order_end(group, 1) == (("test.g", {"n": 2}), False)
    assert await layer.order_end(group, 2) == (None, False)
    assert await layer.order_release() == []
    await layer.order_end(group, 0)  # the lost one was only slow: it changes nothing
    assert await layer.order_begin(group, 3, "test.g", {"n": 3})


async def test_an_interface_is_woken_when_enough_of_its_messages_ended(layer):
    group = await group_of(layer)
    assert not await layer.order_wait(group, 2)
    assert await layer.order_end(group, 0) == (None, False)
    assert await layer.order_end(group, 1) == (None, False)
    assert await layer.order_end(group, 2) == (None, True)  # the worker sends the wake-up
    assert await layer.order_end(group, 3) == (None, False)  # once
    assert await layer.order_wait(group, 3)  # already there: no wake-up needed


# -- what a layer tells about itself (gateways status, metrics, health) ---------------


async def test_channel_figures_count_waiting_messages_and_their_age(layer):
    for n in range(3):
        await layer.send("test.figures", {"n": n})
    figures = await layer.channel_figures(["test.figures", "test.idle"])
    assert figures["test.figures"]["depth"] == 3
    assert figures["test.figures"]["capacity"] == layer.capacity
    assert 0 <= figures["test.figures"]["oldest_age"] < 5
    assert figures["test.idle"] == {"depth": 0, "oldest_age": None, "capacity": layer.capacity}
    assert "test.figures" in await layer.busy_channels()


async def test_heartbeats_tell_who_is_alive_until_they_lapse_or_stop(layer):
    await layer.heartbeat("worker", "w1", {"name": "w1", "pid": 1}, ttl=0.2)
    await layer.heartbeat("worker", "w2", {"name": "w2", "pid": 2}, ttl=30)
    await layer.heartbeat("interface", "i1", {"name": "i1"}, ttl=30)
    assert [r["name"] for r in await layer.alive("worker")] == ["w1", "w2"]
    await layer.heartbeat_stop("worker", "w2")
    async with asyncio.timeout(5):
        while await layer.alive("worker"):  # noqa: ASYNC110 - w1 lapses on the layer's clock
            await asyncio.sleep(0.05)
    assert await layer.alive("interface") == [{"name": "i1"}]


async def test_after_a_release_what_a_dead_worker_took_is_skipped_at_once(make_layer):
    """A dead worker held 0, 2 and 4 of a group; 1, 3 and 5 were parked by others. One
    order_timeout releases 1, then 3 and 5 follow as soon as each predecessor ends."""
    layer = make_layer(order_timeout=0.2)
    group = await group_of(layer)
    for n in (1, 3, 5):
        assert not await layer.order_begin(group, n, "test.g", {"n": n})
    assert await released_after_timeout(layer) == [(group, ("test.g", {"n": 1}))]
    assert await layer.order_end(group, 1) == (("test.g", {"n": 3}), False)
    assert await layer.order_end(group, 3) == (("test.g", {"n": 5}), False)
    assert await layer.order_end(group, 5) == (None, False)
    assert not await layer.order_begin(group, 7, "test.g", {"n": 7})  # recovery is over
