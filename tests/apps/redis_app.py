"""Routes for the Redis layer tests: workers report back on a channel the test reads."""

from __future__ import annotations

import asyncio
import logging
import os

from core_app import heap_state

from gateways import route

log = logging.getLogger("redis_app")


async def report(message, **kwargs):
    """Tell the test which worker process took the message, and which delivery it was."""
    await message.layer.send(
        message["report_to"],
        {
            "channel": message.channel,
            "n": message.get("n"),
            "pid": os.getpid(),
            "attempt": message.delivery_attempt,
            "redelivered": message.redelivered,
        },
    )


async def durable(message, **kwargs):
    """The first delivery hangs (the test kills the worker); a redelivery reports."""
    if message.delivery_attempt == 1 and message.get("hang"):
        log.warning("holding durable message %s", message["n"])
        await asyncio.Event().wait()
    await report(message)


async def whoami(message, **kwargs):
    """An HTTP answer naming the worker process, so tests see who served it."""
    await message.reply(
        {
            "status": 200,
            "headers": [[b"content-type", b"text/plain"]],
            "content": b"%d" % os.getpid(),
        }
    )


async def heap(message, **kwargs):
    """An HTTP answer describing the worker process's collector (gateways.heap)."""
    await message.reply({"status": 200, "content": heap_state().encode()})


async def hang(message, **kwargs):
    """Never answers: the test kills the worker running it."""
    log.warning("holding request %s", message["path"])
    await asyncio.Event().wait()


routes = [
    route("email.receive", durable),
    route("jobs.a", report),
    route("jobs.b", report),
]

#: The same, plus HTTP: for deployments of ``gateways serve`` and separate workers.
web = [
    route("http.request", whoami, path=r"^/whoami$"),
    route("http.request", hang, path=r"^/hang$"),
    route("http.request", heap, path=r"^/heap$"),
    *routes,
]
