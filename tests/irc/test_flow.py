"""A network's events through its flow: in order on any number of workers, and a flood
that outruns the consumers slows the reading of the network instead of being dropped.

The flooding "human" is a raw socket on a real ngircd; the bot runs either in this test's
event loop (to watch it pause) or as ``gateways serve`` (as deployed)."""

from __future__ import annotations

import asyncio
import re
import time
from types import SimpleNamespace
from typing import Any

from gateways_irc.client import NetworkClient
from gateways_irc.interface import IrcInterface
from gateways_irc.options import IrcOptions, networks

from gateways import core_options, route
from gateways.config import resolve
from gateways.layers import get_layer
from gateways.plugins import get_plugin_host
from gateways.routing import Router
from gateways.worker import Worker
from tests.core.test_interface import wait_until
from tests.irc.conftest import CHANNEL, bot_joined

FLOOD = 300  # lines; the channel holds 5, a flow keeps 32 unfinished
#: Workers that take one message at a time share a burst between them.
ONE_AT_A_TIME = ("--concurrency", "1")


def flood(user: Any, count: int, suffix: str = "", start: int = 0) -> None:
    """``count`` numbered lines in one write, as fast as the socket takes them."""
    lines = (f"PRIVMSG {CHANNEL} :flood {i}{suffix}" for i in range(start, start + count))
    user.send("\r\n".join(lines))


def flooded(process: Any) -> list[tuple[int, str]]:
    """(number, pid) of every ``flood N`` event the app ran, in the order it logged them."""
    found = (re.search(r"FLOOD (\d+) (\d+)$", line) for line in process.lines)
    return [(int(m[1]), m[2]) for m in found if m]


def irc_settings(ircd: Any, **given: Any) -> Any:
    args = {
        "plugin": ["irc"],
        "irc_server": ircd.address,
        "irc_network": "testnet",
        "irc_nick": "bot",
        "irc_channel": [CHANNEL],
        "irc_flood_rate": 0.0,
        "irc_reconnect_delay": 0.1,
        **given,
    }
    return resolve([*core_options.gateways_options(), *IrcOptions.declare()], args, environ={})


async def start_bot_here(ircd: Any, layer: Any, **given: Any) -> IrcInterface:
    interface = IrcInterface(SimpleNamespace(layer=layer, settings=irc_settings(ircd, **given)))
    await interface.start()
    return interface


def test_a_flood_reaches_the_consumer_whole_and_in_order(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd, "--layer", "memory://?capacity=5", "--irc-flood-rate", "0")
    bot_joined(alice)
    flood(alice, FLOOD)
    bot.wait_for(rf"FLOOD {FLOOD - 1} ", 30.0)
    assert [n for n, _ in flooded(bot)] == list(range(FLOOD))
    assert "dropped" not in bot.output


def test_a_networks_events_run_in_order_on_two_workers(
    ircd, irc_user, start_bot, gateways_process, redis_layer_url
):
    workers = [
        gateways_process("worker", "irc_app:routes", "--layer", redis_layer_url, *ONE_AT_A_TIME)
        for _ in range(2)
    ]
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd, "--layer", redis_layer_url, "--irc-flood-rate", "0")
    bot_joined(alice)
    mark = alice.mark()
    for i in range(40):  # one by one: each goes to whichever worker is free
        flood(alice, 1, " answer", start=i)
        time.sleep(0.02)
    flood(alice, 80, " answer", start=40)  # at once: workers take them while others run
    # Each answer is sent before its event ends, and the next event starts only then:
    # the bot says them in the order the events ran, whichever worker ran each.
    lines = alice.wait_messages("bot", 120, timeout=30.0, start=mark)
    ran = [x.text.split() for x in lines]
    assert [int(n) for _, n, _ in ran] == list(range(120))
    assert {pid for _, _, pid in ran} == {str(w.proc.pid) for w in workers}
    assert "dropped" not in bot.output


async def test_a_flood_pauses_the_network_until_the_workers_catch_up(ircd, irc_user):
    alice = irc_user(ircd, "alice", [CHANNEL])
    layer = get_layer("memory://", channel_capacity={"irc-client.receive": 5})
    seen: list[int] = []

    async def slow(message: Any) -> None:
        if message["body"].startswith("flood "):
            await asyncio.sleep(0.002)
            seen.append(int(message["body"].split()[1]))

    ignore = [route(f"irc-client.{kind}", lambda m: None) for kind in ("connect", "disconnect")]
    routes = Router([route("irc-client.receive", slow), *ignore])
    worker = Worker(layer, routes, get_plugin_host(), concurrency=8)
    running = asyncio.create_task(worker.run(grace=5))
    interface = await start_bot_here(ircd, layer)
    client = interface.by_name["testnet"]
    await asyncio.to_thread(bot_joined, alice)
    flood(alice, FLOOD)
    await wait_until(lambda: len(seen) == FLOOD, timeout=30)
    assert seen == list(range(FLOOD))
    assert client.pauses > 0  # the flow stopped reading the network, more than once
    assert not client.reading_paused
    assert client.ready.is_set()  # and the link never suffered for it
    await interface.drain(2)
    worker.stop()
    await running
    await layer.close()


async def test_a_paused_network_stays_unread_across_a_reconnect(ircd, irc_user):
    alice = irc_user(ircd, "alice", [CHANNEL])
    layer = get_layer("memory://")
    idle = NetworkClient(networks(irc_settings(ircd))[0], lambda work, name: None, lambda: None)
    idle.pause_reading()  # never connected: nothing to pause, and no error
    idle.resume_reading()
    interface = await start_bot_here(ircd, layer)
    client = interface.by_name["testnet"]
    await asyncio.to_thread(bot_joined, alice)
    _, connected = await layer.receive(["irc-client.connect"], timeout=5)
    assert connected["__seq__"] == 0

    client.pause_reading()
    alice.say(CHANNEL, "while paused")
    assert await layer.receive(["irc-client.receive"], timeout=0.5) == (None, None)
    client.resume_reading()
    _, said = await layer.receive(["irc-client.receive"], timeout=5)
    assert (said["body"], said["__seq__"]) == ("while paused", 1)

    client.pause_reading()
    client.drop()  # the link dies while paused; the next one opens paused
    _, gone = await layer.receive(["irc-client.disconnect"], timeout=5)
    client.pause_reading()  # between two links: harmless
    await wait_until(lambda: client.connection.connected, timeout=5)
    await asyncio.sleep(0.5)  # the server's welcome waits unread
    assert not client.ready.is_set()
    assert await layer.receive(["irc-client.connect"], timeout=0.1) == (None, None)
    client.resume_reading()
    _, again = await layer.receive(["irc-client.connect"], timeout=5)
    assert client.ready.is_set()
    assert (gone["__seq__"], again["__seq__"]) == (2, 3)  # one flow for the network's life
    await interface.drain(2)
    await layer.close()


async def test_a_pong_unread_while_paused_is_no_dead_link(ircd, irc_user):
    alice = irc_user(ircd, "alice", [CHANNEL])
    layer = get_layer("memory://")
    interface = await start_bot_here(ircd, layer, irc_ping_interval=0.1, irc_ping_timeout=0.3)
    client = interface.by_name["testnet"]
    await asyncio.to_thread(bot_joined, alice)
    transport = client.connection.transport
    client.pause_reading()
    client.lag = None
    await asyncio.sleep(1.0)  # PINGs go out, their PONGs wait unread past the timeout
    client.resume_reading()
    await wait_until(lambda: client.lag is not None)  # a PING answered after the pause
    assert client.connection.transport is transport and client.ready.is_set()
    assert await layer.receive(["irc-client.disconnect"], timeout=0.2) == (None, None)
    await interface.drain(2)
    await layer.close()
