"""Start-up and shut-down work of consumers, run by each worker around its life.

A consumer that needs set-up once per process (an ASGI application's ``lifespan``, a
connection pool) carries a ``lifespan`` attribute with two coroutines, ``startup()``
and ``shutdown()``. A worker runs every distinct one before it takes its first message
and after its drain; one that fails at start-up stops the worker, as uvicorn stops on
a failed ``lifespan.startup``. Several workers of one process call them once each, so
an object shared between them counts its users (see gateways_http.asgi.Lifespan).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

__all__ = ["ConsumerLifespan", "lifespans", "running"]


@runtime_checkable
class ConsumerLifespan(Protocol):
    async def startup(self) -> None: ...

    async def shutdown(self) -> None: ...


def lifespans(routing: Any) -> list[ConsumerLifespan]:
    """The distinct ``lifespan`` objects of the routed consumers, in routing order."""
    consumers = routing.consumers() if hasattr(routing, "consumers") else []
    found: dict[int, ConsumerLifespan] = {}
    for consumer in consumers:
        candidate = getattr(consumer, "lifespan", None)
        if isinstance(candidate, ConsumerLifespan):
            found.setdefault(id(candidate), candidate)
    return list(found.values())


@contextlib.asynccontextmanager
async def running(routing: Any) -> AsyncIterator[None]:
    """Start every lifespan of ``routing``; shut down, last started first, on exit."""
    async with contextlib.AsyncExitStack() as stack:
        for lifespan in lifespans(routing):
            await lifespan.startup()
            stack.push_async_callback(lifespan.shutdown)
        yield
