"""Durable channels (those plugins declare, such as ``email.receive``, and those a layer is
configured with): at least once, with a visibility timeout."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from gateways.message import Message

pytestmark = pytest.mark.timeout(30)


async def test_an_unacked_message_comes_back_after_the_visibility_timeout(
    redis_layer_url, open_layer
):
    layer = open_layer(redis_layer_url, visibility_timeout=0.3)
    await layer.send("email.receive", {"subject": "hi"})
    channel, first = await layer.receive(["email.receive"], timeout=1)
    assert not Message(channel, first, layer).redelivered
    assert await layer.receive(["email.receive"], timeout=0.1) == (None, None)  # invisible
    started = time.monotonic()
    channel, again = await layer.receive(["email.receive"], timeout=3)
    assert time.monotonic() - started > 0.1
    message = Message(channel, again, layer)
    assert message["subject"] == "hi" and message.redelivered and message.delivery_attempt == 2
    assert again["__delivery__"]["id"] == first["__delivery__"]["id"]
    await layer.ack(channel, again)
    assert await layer.receive(["email.receive"], timeout=0.6) == (None, None)


async def test_an_acked_message_is_not_delivered_again(redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url, visibility_timeout=0.2)
    await layer.send("email.receive", {"n": 1})
    channel, message = await layer.receive(["email.receive"], timeout=1)
    await layer.ack(channel, message)
    assert await layer.receive(["email.receive"], timeout=0.5) == (None, None)


async def test_durable_messages_outlive_the_ordinary_expiry(redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url, expiry=0.1, durable_expiry=60)
    await layer.send("email.receive", {"n": 1})
    await layer.send("plain.channel", {"n": 1})
    await asyncio.sleep(0.3)  # the expiry itself is under test
    assert (await layer.receive(["email.receive"], timeout=1))[1]["n"] == 1
    assert await layer.receive(["plain.channel"], timeout=0.05) == (None, None)


async def test_durable_channels_are_configurable(redis_layer_url, open_layer):
    layer = open_layer(redis_layer_url + "?durable=jobs.*", visibility_timeout=0.2)
    await layer.send("jobs.x", {})
    await layer.send("email.receive", {})  # declared durable by the email plugin
    await layer.send("plain.channel", {})
    assert "__delivery__" in (await layer.receive(["jobs.x"], timeout=1))[1]
    assert "__delivery__" in (await layer.receive(["email.receive"], timeout=1))[1]
    assert "__delivery__" not in (await layer.receive(["plain.channel"], timeout=1))[1]


async def test_a_worker_killed_mid_consumer_gets_its_message_redelivered(
    redis_layer_url, open_layer, gateways_process
):
    url = redis_layer_url + "?visibility_timeout=1"
    layer = open_layer(url)
    first = gateways_process("worker", "redis_app:routes", "--layer", url)
    report = await layer.new_channel("test.report")
    await layer.send("email.receive", {"n": 7, "hang": True, "report_to": report})
    first.wait_for("holding durable message 7")
    first.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    second = gateways_process("worker", "redis_app:routes", "--layer", url)
    channel, got = await layer.receive([report], timeout=10)
    assert channel == report and got["n"] == 7
    assert got["pid"] == second.proc.pid and got["redelivered"] and got["attempt"] == 2
    assert time.monotonic() - killed_at >= 0.5  # not before the visibility timeout
    # acked by the second worker once its consumer finished: never a third time
    assert await layer.receive([report], timeout=1.5) == (None, None)
