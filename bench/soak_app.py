"""The soak's app (bench/soak.py): HTTP hello, and WebSocket sockets that join a group on
connect, echo what they get and leave the group on disconnect, so per-socket state in
the layer (reply channels, order records, group memberships) comes and goes."""

from __future__ import annotations

from gateways import route

GROUP = "soak"
TEXT = [[b"content-type", b"text/plain"]]


async def hello(message, **kwargs):
    await message.reply({"status": 200, "headers": TEXT, "content": b"hello"})


async def connect(message, **kwargs):
    await message.layer.group_add(GROUP, message.reply_channel)
    await message.reply({"accept": True})


async def receive(message, **kwargs):
    if "text" in message:
        await message.reply({"text": message["text"]})
    else:
        await message.reply({"bytes": message["bytes"]})


async def disconnect(message, **kwargs):
    await message.layer.group_discard(GROUP, message.reply_channel)


routes = [
    route("http.request", hello),
    route("websocket.connect", connect),
    route("websocket.receive", receive),
    route("websocket.disconnect", disconnect),
]
