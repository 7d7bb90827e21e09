"""Routes of the deployment guide's ``myproject``: HTTP answers which worker process
served it, a WebSocket echoes, and ``/slow/SECONDS`` holds a consumer in flight (to stop
a process under it)."""

from __future__ import annotations

import asyncio
import logging
import os

from gateways import route

log = logging.getLogger("myproject")


async def hello(message, **kwargs):
    await message.reply(
        {
            "status": 200,
            "headers": [[b"content-type", b"text/plain"]],
            "content": f"served by worker {os.getpid()}".encode(),
        }
    )


async def slow(message, seconds, **kwargs):
    log.info("myproject: answering in %s s", seconds)
    await asyncio.sleep(float(seconds))
    await hello(message)


async def accept(message, **kwargs):
    await message.reply({"accept": True})


async def echo(message, **kwargs):
    await message.reply({"text": message.get("text") or ""})


routes = [
    route("http.request", slow, path=r"^/slow/(?P<seconds>[\d.]+)$"),
    route("http.request", hello),
    route("websocket.connect", accept),
    route("websocket.receive", echo),
]
