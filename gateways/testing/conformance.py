"""The channel layer contract (design section 6) as a test suite any layer can run.

A layer is done when this suite passes against it. In the layer's own tests::

    import pytest
    from gateways.testing.conformance import LayerConformance

    class TestMyLayer(LayerConformance):
        @pytest.fixture
        def layer_url(self) -> str:
            return "mylayer://localhost/0"   # a running, empty instance

Override :meth:`LayerConformance.create_layer` too when the layer is not registered
for a URL scheme. The suite needs ``pytest-asyncio`` (its tests are marked ``asyncio``,
so they run in strict mode as well as auto mode).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Protocol

import pytest
import pytest_asyncio

from gateways.layers import BaseChannelLayer, ChannelFull, MessageTooLarge, get_layer

__all__ = ["LayerConformance", "LayerFactory"]


class LayerFactory(Protocol):
    """``make_layer(**options)``: a new layer of the backend under test, with settings."""

    def __call__(self, **options: Any) -> BaseChannelLayer: ...


async def next_message(layer: BaseChannelLayer, channel: str) -> dict[str, Any]:
    """The next message on ``channel`` (waiting up to 5 s for it)."""
    got, message = await layer.receive([channel], timeout=5)
    assert got == channel and message is not None, f"nothing arrived on {channel}"
    return dict(message)


async def group_of(layer: BaseChannelLayer) -> str:
    """A fresh message group: a connection's reply channel."""
    return await layer.new_channel("test.conn")


async def released_after_timeout(layer: BaseChannelLayer) -> list[Any]:
    """What ``order_release`` hands out once the layer's ``order_timeout`` has passed."""
    async with asyncio.timeout(5):
        while not (released := await layer.order_release()):  # noqa: ASYNC110 - layer clock
            await asyncio.sleep(0.05)
    return released


@pytest.mark.asyncio
class LayerConformance:
    """The layer contract as test methods; subclass it as ``Test...`` and give it a URL.

    Override (in the subclass):
        layer_url: Fixture: the URL of a running, empty instance of the layer.
            Parametrise it to run several set-ups (TLS, a cluster...).
        layer_options: Fixture: settings given to every layer the suite builds
            (default none).
        create_layer: Method ``create_layer(url, **settings) -> layer``; by default
            ``get_layer(url, **settings)``, which needs the layer registered for its URL
            scheme. Override it to construct the layer class directly.

    Fixtures it provides: ``make_layer`` (a factory ``make_layer(**settings)``; each
    layer made is flushed and closed after the test) and ``layer`` (``make_layer()``).
    """

    def create_layer(self, url: str, **settings: Any) -> BaseChannelLayer:
        """A new layer for ``url`` with ``settings``; override to build your class."""
        return get_layer(url, **settings)

    @pytest.fixture
    def layer_url(self) -> str:
        """The URL of a running, empty instance: override it."""
        raise NotImplementedError(f"{type(self).__name__}: override the layer_url fixture")

    @pytest.fixture
    def layer_options(self) -> dict[str, Any]:
        """Settings for every layer the suite builds (none by default)."""
        return {}

    @pytest_asyncio.fixture
    async def make_layer(
        self, layer_url: str, layer_options: dict[str, Any]
    ) -> AsyncIterator[LayerFactory]:
        """``make_layer(**settings)``; every layer made is flushed and closed after."""
        made: list[BaseChannelLayer] = []

        def make(**settings: Any) -> BaseChannelLayer:
            layer = self.create_layer(layer_url, **{**layer_options, **settings})
            made.append(layer)
            return layer

        yield make
        for layer in made:
            await layer.flush()
            await layer.close()

    @pytest_asyncio.fixture
    async def layer(self, make_layer: LayerFactory) -> BaseChannelLayer:
        """A layer with the default settings."""
        return make_layer()

    async def test_round_trip_keeps_types(self, layer: BaseChannelLayer) -> None:
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

    async def test_receive_times_out_with_none_pair(self, layer: BaseChannelLayer) -> None:
        assert await layer.receive(["test.empty"], timeout=0.05) == (None, None)

    async def test_order_is_kept_per_channel(self, layer: BaseChannelLayer) -> None:
        for i in range(20):
            await layer.send("test.order", {"i": i})
        got = [(await next_message(layer, "test.order"))["i"] for _ in range(20)]
        assert got == list(range(20))

    async def test_receive_on_several_channels(self, layer: BaseChannelLayer) -> None:
        await layer.send("test.b", {"from": "b"})
        channel, message = await layer.receive(["test.a", "test.b"], timeout=1)
        assert (channel, message) == ("test.b", {"from": "b"})

    async def test_waiting_receiver_wakes_on_send(self, layer: BaseChannelLayer) -> None:
        waiting = asyncio.ensure_future(layer.receive(["test.wake"], timeout=10))
        await asyncio.sleep(0)  # let the receive start waiting
        await layer.send("test.wake", {"x": 1})
        assert await asyncio.wait_for(waiting, 5) == ("test.wake", {"x": 1})

    async def test_each_message_reaches_one_receiver(self, layer: BaseChannelLayer) -> None:
        receivers = [
            asyncio.ensure_future(layer.receive(["test.once"], timeout=2)) for _ in range(4)
        ]
        await asyncio.sleep(0)
        for i in range(4):
            await layer.send("test.once", {"i": i})
        results = await asyncio.gather(*receivers)
        assert sorted(m["i"] for _, m in results if m is not None) == [0, 1, 2, 3]

    async def test_new_channel_is_process_specific(self, layer: BaseChannelLayer) -> None:
        first, second = await layer.new_channel("http.response"), await layer.new_channel()
        assert first.startswith("http.response.") and "!" in first
        assert second.startswith("specific.") and first != second
        await layer.send(first, {"to": "first"})
        assert await layer.receive([first], timeout=1) == (first, {"to": "first"})

    async def test_prefix_receive_gets_every_suffix_with_its_full_name(
        self, layer: BaseChannelLayer
    ) -> None:
        one, two = await layer.new_channel("reply"), await layer.new_channel("reply")
        assert one.split("!")[0] == two.split("!")[0]
        prefix = one.split("!")[0] + "!"
        await layer.send(one, {"n": 1})
        await layer.send(two, {"n": 2})
        assert await layer.receive([prefix], timeout=1) == (one, {"n": 1})
        assert await layer.receive([prefix], timeout=1) == (two, {"n": 2})

    async def test_full_specific_receive_buffers_siblings(self, layer: BaseChannelLayer) -> None:
        one, two = await layer.new_channel("reply"), await layer.new_channel("reply")
        await layer.send(one, {"n": 1})
        await layer.send(two, {"n": 2})
        assert await layer.receive([two], timeout=1) == (two, {"n": 2})
        assert await layer.receive([one], timeout=1) == (one, {"n": 1})

    @pytest.mark.parametrize("name", ["", "has space", "ünïcode", "a" * 100, "two!bangs!", "x/y"])
    async def test_bad_channel_names_are_refused(self, layer: BaseChannelLayer, name: str) -> None:
        with pytest.raises(ValueError, match="channel name"):
            await layer.send(name, {})
        with pytest.raises(ValueError, match="channel name"):
            await layer.receive([name], timeout=0)

    async def test_non_str_names_are_type_errors(self, layer: BaseChannelLayer) -> None:
        with pytest.raises(TypeError):
            await layer.send(b"bytes.name", {})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await layer.group_add(123, "test.x")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="list of channel names"):
            await layer.receive("test.single")  # a str is iterable, yet refused

    async def test_sending_to_a_bare_prefix_is_refused(self, layer: BaseChannelLayer) -> None:
        with pytest.raises(ValueError, match="needs a suffix"):
            await layer.send("reply.abc!", {})

    @pytest.mark.parametrize("group", ["bad group", "g!x", "g" * 100])
    async def test_bad_group_names_are_refused(self, layer: BaseChannelLayer, group: str) -> None:
        with pytest.raises(ValueError, match="group name"):
            await layer.group_add(group, "test.x")

    @pytest.mark.parametrize("value", [object(), {1, 2}, {"nested": object()}])
    async def test_unsendable_values_are_type_errors(
        self, layer: BaseChannelLayer, value: object
    ) -> None:
        with pytest.raises(TypeError, match="cannot be sent"):
            await layer.send("test.bad", {"value": value})

    async def test_message_must_be_a_dict(self, layer: BaseChannelLayer) -> None:
        with pytest.raises(TypeError, match="must be a dict"):
            await layer.send("test.bad", ["not", "a", "dict"])  # type: ignore[arg-type]

    async def test_capacity_raises_channel_full_and_loses_nothing_kept(
        self, make_layer: LayerFactory
    ) -> None:
        layer = make_layer(capacity=3)
        for i in range(3):
            await layer.send("test.cap", {"i": i})
        with pytest.raises(ChannelFull):
            await layer.send("test.cap", {"i": 3})
        assert [(await next_message(layer, "test.cap"))["i"] for _ in range(3)] == [0, 1, 2]
        await layer.send("test.cap", {"i": 4})  # room again

    async def test_per_channel_capacity_by_glob(self, make_layer: LayerFactory) -> None:
        layer = make_layer(capacity=2, channel_capacity={"big.*": 5})
        for i in range(5):
            await layer.send("big.one", {"i": i})
        with pytest.raises(ChannelFull):
            await layer.send("big.one", {})
        await layer.send("small", {})
        await layer.send("small", {})
        with pytest.raises(ChannelFull):
            await layer.send("small", {})

    async def test_a_process_inbox_holds_more_than_one_channel_capacity(
        self, make_layer: LayerFactory
    ) -> None:
        # A broadcast to many sockets of one process must not overflow at ``capacity``.
        layer = make_layer(capacity=2, inbox_capacity=6)
        names = [await layer.new_channel("test.reply") for _ in range(6)]
        for name in names:
            await layer.send(name, {"to": name})
        with pytest.raises(ChannelFull):
            await layer.send(names[0], {"to": "one too many"})
        assert [(await next_message(layer, name))["to"] for name in names] == names

    async def test_inbox_capacity_follows_channel_capacity_globs(
        self, make_layer: LayerFactory
    ) -> None:
        layer = make_layer(inbox_capacity=6, channel_capacity={"test.small.*": 1})
        name = await layer.new_channel("test.small")
        await layer.send(name, {})
        with pytest.raises(ChannelFull):
            await layer.send(name, {})

    async def test_messages_expire(self, make_layer: LayerFactory) -> None:
        layer = make_layer(expiry=0.2)
        await layer.send("test.expire", {"old": True})
        await asyncio.sleep(0.4)  # the expiry itself is what is under test
        await layer.send("test.expire", {"old": False})
        assert await layer.receive(["test.expire"], timeout=1) == ("test.expire", {"old": False})
        assert await layer.receive(["test.expire"], timeout=0.05) == (None, None)

    async def test_expired_messages_free_capacity(self, make_layer: LayerFactory) -> None:
        layer = make_layer(expiry=0.2, capacity=1)
        await layer.send("test.free", {})
        await asyncio.sleep(0.4)
        await layer.send("test.free", {})  # does not raise ChannelFull

    async def test_oversized_message_raises(self, make_layer: LayerFactory) -> None:
        layer = make_layer(max_message_size=1000)
        with pytest.raises(MessageTooLarge):
            await layer.send("test.big", {"body": b"x" * 2000})
        await layer.send("test.big", {"body": b"x" * 500})

    async def test_group_send_reaches_every_member(self, layer: BaseChannelLayer) -> None:
        members = [await layer.new_channel("member") for _ in range(3)] + ["test.plain"]
        for channel in members:
            await layer.group_add("room", channel)
        await layer.group_send("room", {"text": "hi"})
        for channel in members:
            assert await layer.receive([channel], timeout=1) == (channel, {"text": "hi"})

    async def test_group_discard_and_unknown_groups(self, layer: BaseChannelLayer) -> None:
        await layer.group_add("room", "test.a")
        await layer.group_add("room", "test.b")
        await layer.group_discard("room", "test.a")
        await layer.group_discard("nobody", "test.a")
        await layer.group_send("empty-group", {"x": 1})
        await layer.group_send("room", {"x": 2})
        assert await layer.receive(["test.b"], timeout=1) == ("test.b", {"x": 2})
        assert await layer.receive(["test.a"], timeout=0.05) == (None, None)

    async def test_group_add_twice_delivers_once(self, layer: BaseChannelLayer) -> None:
        await layer.group_add("room", "test.twice")
        await layer.group_add("room", "test.twice")
        await layer.group_send("room", {"x": 1})
        assert await layer.receive(["test.twice"], timeout=1) == ("test.twice", {"x": 1})
        assert await layer.receive(["test.twice"], timeout=0.05) == (None, None)

    async def test_group_send_skips_full_members(self, make_layer: LayerFactory) -> None:
        layer = make_layer(capacity=1)
        await layer.group_add("room", "test.full")
        await layer.group_add("room", "test.ok")
        await layer.send("test.full", {"first": True})
        await layer.group_send("room", {"x": 1})  # no ChannelFull: best effort per member
        assert await layer.receive(["test.ok"], timeout=1) == ("test.ok", {"x": 1})
        assert await layer.receive(["test.full"], timeout=1) == ("test.full", {"first": True})

    async def test_group_memberships_expire(self, make_layer: LayerFactory) -> None:
        layer = make_layer(group_expiry=0.2)
        await layer.group_add("room", "test.member")
        await asyncio.sleep(0.4)  # the expiry itself is what is under test
        await layer.group_send("room", {"x": 1})
        assert await layer.receive(["test.member"], timeout=0.05) == (None, None)

    async def test_flush_empties_channels_and_groups(self, layer: BaseChannelLayer) -> None:
        await layer.send("test.flush", {})
        await layer.group_add("room", "test.flush")
        await layer.flush()
        await layer.group_send("room", {})
        assert await layer.receive(["test.flush"], timeout=0.05) == (None, None)

    async def test_settings_are_checked(self, make_layer: LayerFactory) -> None:
        with pytest.raises(ValueError, match="capacity"):
            make_layer(capacity=0)
        with pytest.raises(ValueError, match="expiry"):
            make_layer(expiry=-1)

    # -- message groups (design section 6: one reply_channel at a time, in order) ----------

    async def test_a_group_message_runs_once_its_predecessor_ended(
        self, layer: BaseChannelLayer
    ) -> None:
        group = await group_of(layer)
        assert await layer.order_begin(group, 0, "test.g", {"n": 0})
        assert not await layer.order_begin(group, 1, "test.g", {"n": 1})  # 0 still runs: parked
        following, wake = await layer.order_end(group, 0)
        assert following == ("test.g", {"n": 1}) and not wake  # whoever ends 0 runs 1 next
        assert await layer.order_end(group, 1) == (None, False)
        assert await layer.order_begin(group, 2, "test.g", {"n": 2})  # 1 ended: runs at once

    async def test_parked_messages_are_handed_over_one_by_one_in_order(
        self, layer: BaseChannelLayer
    ) -> None:
        group = await group_of(layer)
        for n in (3, 1, 2):  # taken by several workers, in any order
            assert not await layer.order_begin(group, n, f"test.g{n}", {"n": n})
        handed = []
        following, _ = await layer.order_end(group, 0)
        while following is not None:
            handed.append(following)
            following, _ = await layer.order_end(group, following[1]["n"])
        assert handed == [(f"test.g{n}", {"n": n}) for n in (1, 2, 3)]

    async def test_groups_are_independent(self, layer: BaseChannelLayer) -> None:
        first, second = await group_of(layer), await group_of(layer)
        assert not await layer.order_begin(first, 1, "test.g", {"n": 1})
        assert await layer.order_begin(second, 0, "test.g", {"n": 0})
        assert await layer.order_end(second, 0) == (None, False)
        assert await layer.order_release() == []  # nothing is overdue

    async def test_a_lost_predecessor_releases_its_group_after_the_order_timeout(
        self, make_layer: LayerFactory
    ) -> None:
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

    async def test_an_interface_is_woken_when_enough_of_its_messages_ended(
        self, layer: BaseChannelLayer
    ) -> None:
        group = await group_of(layer)
        assert not await layer.order_wait(group, 2)
        assert await layer.order_end(group, 0) == (None, False)
        assert await layer.order_end(group, 1) == (None, False)
        assert await layer.order_end(group, 2) == (None, True)  # the worker sends the wake-up
        assert await layer.order_end(group, 3) == (None, False)  # once
        assert await layer.order_wait(group, 3)  # already there: no wake-up needed

    async def test_a_groups_last_message_ends_its_record(self, layer: BaseChannelLayer) -> None:
        # A closed connection's record must not linger for group_expiry (a day).
        group, other = await group_of(layer), await group_of(layer)
        for name in (group, other):
            assert await layer.order_end(name, 0) == (None, False)
        assert await layer.order_end(group, 1, last=True) == (None, False)
        assert not await layer.order_wait(group, 1)  # forgotten: nothing known to have ended
        assert await layer.order_wait(other, 0)  # the others are kept

    async def test_a_last_end_keeps_a_record_that_still_holds_parked_messages(
        self, layer: BaseChannelLayer
    ) -> None:
        group = await group_of(layer)
        assert not await layer.order_begin(group, 3, "test.g", {"n": 3})  # 2 is missing
        assert await layer.order_end(group, 1, last=True) == (None, False)
        assert await layer.order_end(group, 2) == (("test.g", {"n": 3}), False)

    # -- what a layer tells about itself (gateways status, metrics, health) ---------------

    async def test_channel_figures_count_waiting_messages_and_their_age(
        self, layer: BaseChannelLayer
    ) -> None:
        for n in range(3):
            await layer.send("test.figures", {"n": n})
        figures = await layer.channel_figures(["test.figures", "test.idle"])
        assert figures["test.figures"]["depth"] == 3
        assert figures["test.figures"]["capacity"] == layer.capacity
        age = figures["test.figures"]["oldest_age"]
        assert age is not None and 0 <= age < 5
        assert figures["test.idle"] == {"depth": 0, "oldest_age": None, "capacity": layer.capacity}
        assert "test.figures" in await layer.busy_channels()

    async def test_heartbeats_tell_who_is_alive_until_they_lapse_or_stop(
        self, layer: BaseChannelLayer
    ) -> None:
        await layer.heartbeat("worker", "w1", {"name": "w1", "pid": 1}, ttl=0.2)
        await layer.heartbeat("worker", "w2", {"name": "w2", "pid": 2}, ttl=30)
        await layer.heartbeat("interface", "i1", {"name": "i1"}, ttl=30)
        assert [r["name"] for r in await layer.alive("worker")] == ["w1", "w2"]
        await layer.heartbeat_stop("worker", "w2")
        async with asyncio.timeout(5):
            while await layer.alive("worker"):  # noqa: ASYNC110 - w1 lapses on the layer's clock
                await asyncio.sleep(0.05)
        assert await layer.alive("interface") == [{"name": "i1"}]

    async def test_after_a_release_what_a_dead_worker_took_is_skipped_at_once(
        self, make_layer: LayerFactory
    ) -> None:
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
