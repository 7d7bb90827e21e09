"""Routes for the WebSocket tests: each consumer shows one behaviour the tests check.

Consumers that want a test to see a message they got (a disconnect, say) broadcast it
as JSON to the group ``watchers``, which a second socket on ``/watch`` joins.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os

from gateways import route

WATCHERS = "watchers"
log = logging.getLogger("websocket_app")


def as_json(content: dict) -> str:
    def plain(value):
        if isinstance(value, bytes):
            return value.decode("latin-1")
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return json.dumps({key: plain(value) for key, value in content.items()})


async def accept(message, **kwargs):
    await message.reply({"accept": True})


async def echo(message, **kwargs):
    if "text" in message:
        text = message["text"]
        if text.startswith("close "):
            await message.reply({"close": int(text.split()[1])})
        elif text == "order":
            await message.reply({"text": str(message["order"])})
        elif text == "explode":
            raise RuntimeError("consumer blew up")
        elif text == "bad reply":
            await message.reply({"text": b"bytes are not text"})
            await message.reply({"text": "after the bad reply"})
        else:
            await message.reply({"text": text})
    else:
        await message.reply({"bytes": message["bytes"]})


async def tell_watchers(message, **kwargs):
    await message.layer.group_send(WATCHERS, {"text": as_json(dict(message.content))})


async def watch(message, **kwargs):
    await message.layer.group_add(WATCHERS, message.reply_channel)
    await message.reply({"accept": True, "text": "watching"})


async def scope(message, **kwargs):
    """Accept by sending data (no explicit accept): the connect message as JSON."""
    await message.reply({"text": as_json(dict(message.content))})


async def reject(message, **kwargs):
    await message.reply({"accept": False})


async def close_at_once(message, **kwargs):
    await message.reply({"close": True})


async def silent(message, **kwargs):
    """Never answers: the interface refuses the handshake after --ws-connect-timeout."""
    log.info("leaving websocket.connect for %s unanswered", message["path"])


async def subprotocol(message, **kwargs):
    wanted = "chat.v2" if "chat.v2" in message["subprotocols"] else None
    await message.reply({"accept": True, "subprotocol": wanted})


async def bad_subprotocol(message, **kwargs):
    await message.reply({"accept": True, "subprotocol": "never-offered"})


async def explode(message, **kwargs):
    raise RuntimeError("connect consumer blew up")


async def join_room(message, room, **kwargs):
    await message.layer.group_add(f"room-{room}", message.reply_channel)
    await message.reply({"accept": True})


async def say_in_room(message, room, **kwargs):
    await message.layer.group_send(f"room-{room}", {"text": message["text"]})


async def leave_room(message, room, **kwargs):
    await message.layer.group_discard(f"room-{room}", message.reply_channel)


async def block(message, **kwargs):
    """Hold the (only) worker slot, so later messages pile up in the layer; says so first."""
    await message.reply({"text": "blocking"})
    await asyncio.sleep(60)


async def slow_echo(message, **kwargs):
    """Echo after 50 ms of work: a burst of frames outruns one worker slot."""
    await asyncio.sleep(0.05)
    await message.reply({"text": message["text"]})


async def whoami(message, **kwargs):
    """Which worker process answered (for the restart test)."""
    await message.reply({"text": f"{message['text']} from {os.getpid()}"})


async def page(message, **kwargs):
    await message.reply(
        {"status": 200, "headers": [[b"content-type", b"text/plain"]], "content": b"plain http"}
    )


routes = [
    route("http.request", page, path=r"^/page$"),
    route("websocket.connect", watch, path=r"^/watch$"),
    route("websocket.connect", scope, path=r"^/scope$"),
    route("websocket.connect", reject, path=r"^/reject$"),
    route("websocket.connect", close_at_once, path=r"^/close$"),
    route("websocket.connect", silent, path=r"^/silent$"),
    route("websocket.connect", subprotocol, path=r"^/subprotocol$"),
    route("websocket.connect", bad_subprotocol, path=r"^/bad-subprotocol$"),
    route("websocket.connect", explode, path=r"^/explode$"),
    route("websocket.connect", join_room, path=r"^/room/(?P<room>\w+)$"),
    route("websocket.connect", accept, path=r"^/(echo|tell|block|whoami|slow)$"),
    route("websocket.receive", say_in_room, path=r"^/room/(?P<room>\w+)$"),
    route("websocket.receive", block, path=r"^/block$"),
    route("websocket.receive", slow_echo, path=r"^/slow$"),
    route("websocket.receive", whoami, path=r"^/whoami$"),
    route("websocket.receive", echo, path=r"^/(echo|tell)$"),
    route("websocket.disconnect", leave_room, path=r"^/room/(?P<room>\w+)$"),
    route("websocket.disconnect", tell_watchers, path=r"^/tell$"),
]
