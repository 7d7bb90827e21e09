"""Routes for tests/websocket/test_ordering.py: every frame is echoed back as it came.

On ``/work`` each frame first takes 0-20 ms of simulated work, different every time, so
a frame handled by another worker (or another slot of the same one) would overtake the
one before it unless the messages of a socket really run one at a time and in order;
the echo names the worker process (``"17 4242"``). On ``/echo`` the echo is immediate
and exact: what is measured is the server, not the work.
"""

from __future__ import annotations

import asyncio
import os
import random

from gateways import route


async def accept(message, **kwargs):
    await message.reply({"accept": True})


async def work_then_echo(message, **kwargs):
    await asyncio.sleep(random.random() * 0.02)
    await message.reply({"text": f"{message['text']} {os.getpid()}"})


async def echo(message, **kwargs):
    await message.reply({"text": message["text"]})


async def gone(message, **kwargs):
    pass


routes = [
    route("websocket.connect", accept, path=r"^/(work|echo)$"),
    route("websocket.receive", work_then_echo, path=r"^/work$"),
    route("websocket.receive", echo, path=r"^/echo$"),
    route("websocket.disconnect", gone),
]
