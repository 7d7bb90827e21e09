"""A worker's routes as a real app has them: one on every bundled protocol, with the
email plugin's ``email.receive`` durable, so one worker reads plain and durable channels.

Only ``http.request`` gets traffic in ``http_redis.py --app realistic``; the others make
the worker read their channels, as it would in production.
"""

from __future__ import annotations

from typing import Any

from http_hello import hello


async def ignore(message: Any) -> None:
    """A route that is there for its channel; no traffic reaches it in the benchmark."""


def _routes() -> list[Any]:
    from gateways import route

    return [
        route("http.request", hello),
        route("websocket.connect", ignore),
        route("websocket.receive", ignore),
        route("websocket.disconnect", ignore),
        route("email.receive", ignore),
        route("irc-client.receive", ignore),
    ]


routes = _routes()
