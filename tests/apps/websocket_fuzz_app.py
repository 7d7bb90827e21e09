"""The fuzz tests' app: every socket is accepted, every message echoed as it came."""

from __future__ import annotations

from gateways import route


async def accept(message, **kwargs):
    await message.reply({"accept": True})


async def echo(message, **kwargs):
    if "text" in message:
        await message.reply({"text": message["text"]})
    else:
        await message.reply({"bytes": message["bytes"]})


routes = [
    route("websocket.connect", accept),
    route("websocket.receive", echo),
]
