"""The worker-side answers of the http plugin (``gateways_unrouted`` and
``gateways_consumer_failed``). The worker calls them for every channel the plugin
produces; only ``http.request`` gets a 404 or 500: ``http.disconnect`` and body chunks
have no client waiting for an answer."""

from __future__ import annotations

import pytest
from gateways_http import plugin

from gateways.layers import get_layer
from gateways.plugin import Message


@pytest.fixture
async def layer():
    memory = get_layer("memory://")
    yield memory
    await memory.close()


async def reply_on(layer, channel: str):
    _, reply = await layer.receive([channel], timeout=0)  # the hooks send before returning
    return reply


async def test_unrouted_request_gets_404_and_unrouted_disconnect_nothing(layer):
    reply_channel = await layer.new_channel("http.response")
    request = Message("http.request", {"reply_channel": reply_channel, "path": "/"}, layer)
    await plugin.gateways_unrouted(request)
    assert (await reply_on(layer, reply_channel))["status"] == 404

    gone = Message("http.disconnect", {"reply_channel": reply_channel, "path": "/"}, layer)
    await plugin.gateways_unrouted(gone)
    assert await reply_on(layer, reply_channel) is None


async def test_failed_consumer_gets_500_or_abort_but_a_disconnect_nothing(layer):
    reply_channel = await layer.new_channel("http.response")
    request = Message("http.request", {"reply_channel": reply_channel, "path": "/"}, layer)
    await plugin.gateways_consumer_failed(request, RuntimeError("boom"))
    assert (await reply_on(layer, reply_channel))["status"] == 500

    request.replied = True  # the response had begun: it must end badly
    await plugin.gateways_consumer_failed(request, RuntimeError("boom"))
    assert await reply_on(layer, reply_channel) == {"abort": True}

    gone = Message("http.disconnect", {"reply_channel": reply_channel, "path": "/"}, layer)
    await plugin.gateways_consumer_failed(gone, RuntimeError("boom"))
    assert await reply_on(layer, reply_channel) is None
