"""The gateways side of the WebSocket benchmark: the same workload as the Channels 4
anchor (bench/anchors/channels4_project): every socket joins group ``bench``;
``broadcast:<text>`` is sent to the whole group; anything else is echoed."""

from __future__ import annotations

from gateways import route

GROUP = "bench"
PREFIX = "broadcast:"


async def connect(message, **kwargs):
    await message.layer.group_add(GROUP, message.reply_channel)
    await message.reply({"accept": True})


async def receive(message, **kwargs):
    text = message.get("text")
    if text is not None and text.startswith(PREFIX):
        await message.layer.group_send(GROUP, {"text": text[len(PREFIX) :]})
    elif text is not None:
        await message.reply({"text": text})
    else:
        await message.reply({"bytes": message["bytes"]})


async def disconnect(message, **kwargs):
    await message.layer.group_discard(GROUP, message.reply_channel)


routes = [
    route("websocket.connect", connect),
    route("websocket.receive", receive),
    route("websocket.disconnect", disconnect),
]
