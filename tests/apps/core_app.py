"""Routes for the core tests, driven through the line interface plugin."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading

from gateways import include, route

log = logging.getLogger("core_app")
released = asyncio.Event()


async def echo(message, **kwargs):
    await message.reply({"text": "echo " + message["text"]})


async def greet(message, name):
    await message.reply({"text": f"hi {name}"})


def sync_greet(message, name):
    # Sync consumers run in a thread and get blocking calls.
    assert threading.current_thread() is not threading.main_thread()
    message.reply({"text": f"sync hi {name}"})
    message.layer.send(message.reply_channel, {"text": "sync layer works"})


async def explode(message):
    raise RuntimeError("consumer blew up")


async def hold(message):
    """Stays in flight for a while, so SIGTERM finds it running."""
    log.info("holding %s", message["text"])
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(released.wait(), 1.5)
    log.info("hold done")
    await message.reply({"text": "held reply"})


async def release(message):
    released.set()
    await message.reply({"text": "released"})


def heap_state() -> str:
    """The collector as this process sees it (gateways.heap; tests/core/test_heap.py)."""
    return f"frozen {gc.get_freeze_count()} young {gc.get_threshold()[0]}"


async def heap(message):
    await message.reply({"text": heap_state()})


inner = [route("line.receive", greet, text=r"(?P<name>\w+)$")]

routes = [
    route("line.receive", greet, text=r"^hello (?P<name>\w+)$"),
    route("line.receive", sync_greet, text=r"^sync (?P<name>\w+)$"),
    route("line.receive", explode, text=r"^explode$"),
    route("line.receive", hold, text=r"^hold"),
    route("line.receive", release, text=r"^release$"),
    include(inner, text=r"^nested "),
    route("line.receive", echo, text=r"^echo "),
    route("line.receive", heap, text=r"^heap$"),
]
