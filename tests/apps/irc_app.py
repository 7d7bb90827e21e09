"""Routes for the IRC tests: echo, actions, notices, splitting, unsolicited sends."""

from __future__ import annotations

import asyncio
import logging
import os
import random

from gateways import route

log = logging.getLogger("irc_app")


async def record(message):
    """Log every event so tests can check the fields the plugin produced (without the
    reply channel and the flow's ``__seq__``, which change from run to run)."""
    content = {k: v for k, v in message.content.items() if k != "reply_channel" and k[:2] != "__"}
    log.info("EVENT %r", sorted(content.items()))


async def counted(message, n):
    """``flood N`` lines: work a little (random, so a later event run beside an earlier
    one would overtake it), then log and answer in the order they ran."""
    await asyncio.sleep(random.random() * 0.004)
    log.info("FLOOD %s %s", n, os.getpid())
    if message["body"].endswith(" answer"):
        await message.reply({"channel": message["channel"], "body": f"ran {n} {os.getpid()}"})


async def echo(message, text):
    await message.reply({"channel": message["channel"], "body": "echo " + text})


async def private_echo(message, text):
    await message.reply({"channel": message["user"], "body": "private " + text})


async def act(message, text):
    await message.reply({"channel": message["channel"], "type": "action", "body": text})


async def notice(message, text):
    await message.reply({"channel": message["channel"], "type": "notice", "body": text})


async def repeat(message, count, size):
    """``!repeat N SIZE``: N lines of SIZE characters each (flood control, splitting)."""
    for index in range(int(count)):
        body = f"{index:04d} " + "x" * max(0, int(size) - 5)
        await message.reply({"channel": message["channel"], "body": body})


async def long(message, size):
    """``!long SIZE``: one body of SIZE bytes of mixed ASCII and multi-byte text."""
    unit = "abc é 日本 🎉 "
    text = (unit * (int(size) // len(unit.encode()) + 1)).encode()[: int(size)]
    await message.reply(
        {"channel": message["channel"], "body": text.decode("utf-8", errors="ignore")}
    )


async def inject(message):
    await message.reply(
        {"channel": message["channel"], "body": "first\r\nQUIT :injected\nsecond\0third\x01"}
    )


async def unsolicited(message, network, channel, text):
    await message.layer.send(
        "irc-client.send",
        {"network": network, "channel": channel, "type": "message", "body": text},
    )


async def burst(message, count, network, channel):
    """``!burst N NETWORK CHANNEL``: N numbered unsolicited sends, one after another."""
    for index in range(int(count)):
        await message.layer.send(
            "irc-client.send", {"network": network, "channel": channel, "body": f"{index:04d}"}
        )


async def join_channel(message, channel):
    await message.reply({"channel": channel, "type": "join"})


async def part_channel(message, channel):
    await message.reply({"channel": channel, "type": "part", "body": "bye for now"})


async def bad_reply(message):
    await message.reply({"channel": "#a,#b", "body": "two targets"})
    await message.reply({"channel": message["channel"], "type": "shout", "body": "loud"})
    await message.reply({"channel": message["channel"], "body": "still here"})


async def connected(message):
    log.info("CONNECT %s %s %s", message["network"], message["server"], message["nick"])


async def disconnected(message):
    log.info("DISCONNECT %s %s %s", message["network"], message["server"], message["nick"])


commands = [
    route("irc-client.receive", echo, type="message$", body=r"!echo (?P<text>.+)"),
    route("irc-client.receive", act, type="message$", body=r"!act (?P<text>.+)"),
    route("irc-client.receive", notice, type="message$", body=r"!notice (?P<text>.+)"),
    route("irc-client.receive", repeat, body=r"!repeat (?P<count>\d+) (?P<size>\d+)$"),
    route("irc-client.receive", long, body=r"!long (?P<size>\d+)$"),
    route("irc-client.receive", inject, body=r"!inject$"),
    route(
        "irc-client.receive",
        unsolicited,
        body=r"!send (?P<network>\S+) (?P<channel>\S+) (?P<text>.+)",
    ),
    route(
        "irc-client.receive",
        burst,
        body=r"!burst (?P<count>\d+) (?P<network>\S+) (?P<channel>\S+)$",
    ),
    route("irc-client.receive", join_channel, body=r"!join (?P<channel>\S+)$"),
    route("irc-client.receive", part_channel, body=r"!part (?P<channel>\S+)$"),
    route("irc-client.receive", bad_reply, body=r"!bad$"),
    route("irc-client.receive", counted, body=r"^flood (?P<n>\d+)( answer)?$"),
]

routes = [
    *commands,
    route(
        "irc-client.receive",
        private_echo,
        type="message$",
        body=r"(?P<text>.+)",
        channel=r"[^#&+!]",
    ),
    route("irc-client.receive", record),
    route("irc-client.connect", connected),
    route("irc-client.disconnect", disconnected),
]
