"""A ``group_send`` marks what it fans out with the group's name (``__group__``), so the
interface owning a dead reply channel can take it out of that group (see
gateways.dead_members). Readers get the message as sent: the mark is taken out again,
its group kept beside the content (``GroupMessage.group``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateways.layers import get_layer
from gateways.layers.base import GROUP_KEY, BaseChannelLayer, GroupMessage
from tests.fixtures.layers import LAYER_BACKENDS

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=LAYER_BACKENDS)
async def layer(request: pytest.FixtureRequest) -> AsyncIterator[BaseChannelLayer]:
    made = get_layer(str(request.getfixturevalue(f"{request.param}_layer_url")))
    yield made
    await made.flush()
    await made.close()


async def test_members_read_the_message_as_sent_with_its_group_beside_it(
    layer: BaseChannelLayer,
) -> None:
    member = await layer.new_channel("member")
    await layer.group_add("room", member)
    await layer.group_add("room", "test.plain")
    await layer.group_send("room", {"text": "hi"})
    for channel in (member, "test.plain"):
        found, message = await layer.receive([channel], timeout=1)
        assert (found, message) == (channel, {"text": "hi"})
        assert type(message) is GroupMessage and message.group == "room"
        assert GROUP_KEY not in message


async def test_a_message_not_sent_to_a_group_is_a_plain_dict(layer: BaseChannelLayer) -> None:
    await layer.send("test.plain", {"text": "hi"})
    _, message = await layer.receive(["test.plain"], timeout=1)
    assert type(message) is dict and message == {"text": "hi"}


async def test_a_group_message_passed_on_carries_no_mark(layer: BaseChannelLayer) -> None:
    await layer.group_add("room", "test.first")
    await layer.group_send("room", {"text": "hi"})
    _, message = await layer.receive(["test.first"], timeout=1)
    assert message is not None
    await layer.send("test.second", message)  # a consumer forwarding what it got
    _, forwarded = await layer.receive(["test.second"], timeout=1)
    assert type(forwarded) is dict and forwarded == {"text": "hi"}


async def test_group_send_still_refuses_what_it_cannot_send(layer: BaseChannelLayer) -> None:
    with pytest.raises(TypeError, match="must be a dict"):
        await layer.group_send("room", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="group name"):
        await layer.group_send("bad group", {})
