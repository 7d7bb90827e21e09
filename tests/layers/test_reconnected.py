"""``BaseChannelLayer.reconnected()``: what a receive loop backing off from an outage
waits on beside its pause (the Redis case, a real outage, is in tests/redis/test_faults.py)."""

from __future__ import annotations

import asyncio

import pytest

from gateways.layers import get_layer

pytestmark = pytest.mark.timeout(30)


async def test_a_connection_opened_sets_it_and_the_next_call_waits_for_the_next_one() -> None:
    layer = get_layer("memory://")
    first = layer.reconnected()
    assert layer.reconnected() is first and not first.done()  # one for every waiter
    layer._connected()
    assert first.done()
    assert not layer.reconnected().done()  # the next outage's


def test_a_layer_used_on_another_loop_gets_a_future_of_that_loop() -> None:
    layer = get_layer("memory://")

    async def take() -> asyncio.Future[None]:
        return layer.reconnected()

    with asyncio.Runner() as runner:
        old = runner.run(take())
    with asyncio.Runner() as runner:
        new = runner.run(take())
        assert new is not old and new.get_loop() is runner.get_loop()
    layer._connected()  # the loop is closed: nothing to wake, and no error
    assert not new.done()
