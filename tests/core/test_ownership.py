"""Hooks go to the plugin that owns a channel; durability is declared where the channel is."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateways import route
from gateways.layers import get_layer
from gateways.plugin import ChannelSpec, hookimpl
from gateways.plugins import PluginHost
from gateways.routing import Router
from gateways.worker import Worker
from tests.core.test_interface import wait_until


class Recorder:
    """A plugin that produces ``rec.*`` channels and notes which hook calls it gets."""

    def __init__(self, produces: str, durable: bool = False) -> None:
        self.produces, self.durable = produces, durable
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def gateways_channels(self) -> list[ChannelSpec]:
        return [ChannelSpec(self.produces, "produces", durable=self.durable)]

    @hookimpl
    def gateways_unrouted(self, message: Any) -> None:
        self.calls.append(("unrouted", message.channel))

    @hookimpl
    def gateways_consumer_failed(self, message: Any, error: BaseException) -> None:
        self.calls.append(("failed", message.channel))


@pytest.fixture
def plugins():
    host = PluginHost().load_installed()
    host.register(first := Recorder("rec.one"), name="first")
    host.register(second := Recorder("rec.two.*", durable=True), name="second")
    return host, first, second


def test_the_owner_is_the_plugin_that_produces_the_channel(plugins):
    host, _, _ = plugins
    assert host.owner("rec.one") == "first"
    assert host.owner("rec.two.x") == "second"
    assert host.owner("http.request") == "http"
    assert host.owner("email.receive") == "email"
    assert host.owner("nobody.makes.this") is None


async def test_worker_hooks_reach_only_the_owner(plugins):
    host, first, second = plugins
    layer = get_layer("memory://", host)

    async def broken(message: Any) -> None:
        raise RuntimeError("consumer bug")

    routes = [
        route("rec.one", broken, path="^/broken"),
        route("rec.two.x", broken, path="^/nothing-matches"),
        route("rec.orphan", broken, path="^/nothing-matches"),
    ]
    worker = Worker(layer, Router(routes), host)
    running = asyncio.create_task(worker.run(grace=5))
    await layer.send("rec.one", {"path": "/broken"})
    await layer.send("rec.two.x", {"path": "/other"})
    await layer.send("rec.orphan", {"path": "/other"})  # no owner: no plugin is asked
    await wait_until(lambda: len(first.calls) + len(second.calls) == 2 and not worker.in_flight)
    worker.stop()
    await running
    await layer.close()
    assert first.calls == [("failed", "rec.one")]
    assert second.calls == [("unrouted", "rec.two.x")]


async def test_durability_comes_from_channel_specs(plugins):
    host, _, _ = plugins
    layer = get_layer("memory://", host)
    assert layer.durable["rec.two.x"] and not layer.durable["rec.one"]
    assert layer.durable["email.receive"]  # declared by the email plugin, not the core
    assert not layer.durable["http.request"]
    assert "rec.two.*" in host.durable_channels()
    await layer.close()
