"""``gateways status --web PORT``: the figures of ``gateways status``, live in a browser.

One task reads the layer every second (the same :func:`gateways.status.collect` as the
command) and every open page gets the fresh report over a WebSocket (``/ws``). The page
is a package data file that draws its charts itself: a status page must work where the
browser has no internet. It binds 127.0.0.1 unless told otherwise, and refuses
WebSockets from other origins, since the figures name hosts, pids and channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from gateways.config import Settings
from gateways.layers.base import BaseChannelLayer
from gateways.status import collect

__all__ = ["Feed", "run_page", "serve_page"]

log = logging.getLogger("gateways.status")

#: Seconds between two looks at the layer.
EVERY = 1.0
#: A look that takes longer is reported as a failure (the layer is stuck or away).
LOOK_TIMEOUT = 5.0


class Feed:
    """The latest snapshot as JSON text, numbered, and a way to wait for a newer one
    (each page sends at its own pace: a slow browser holds back nobody else)."""

    def __init__(self) -> None:
        self.text = "{}"
        self.version = 0
        self.closed = False
        self._changed = asyncio.Condition()

    async def publish(self, text: str) -> None:
        async with self._changed:
            self.text, self.version = text, self.version + 1
            self._changed.notify_all()

    async def close(self) -> None:
        """No more snapshots: every waiting page handler returns (so the server stops)."""
        async with self._changed:
            self.closed = True
            self._changed.notify_all()

    async def after(self, version: int) -> tuple[int, str] | None:
        """The first snapshot newer than ``version`` (waiting for it), None once closed."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.closed or self.version > version)
            return None if self.closed else (self.version, self.text)


def shown_url(url: str) -> str:
    """The layer URL without its password, fit to put on a page."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


async def watch(layer: BaseChannelLayer, feed: Feed, settings: Settings) -> None:
    """Read the layer every :data:`EVERY` seconds and publish what it says, or why it
    did not answer (the page shows the error; the next look may succeed)."""
    failing: str | None = None
    while True:
        report, error = None, None
        try:
            report = await asyncio.wait_for(collect(layer, settings["max_age"]), LOOK_TIMEOUT)
        except Exception as exc:  # a monitor outlives outages: show the failure, go on
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if error != failing:
            if error:
                log.warning("the layer did not answer: %s", error)
            elif failing:
                log.info("the layer answers again")
            failing = error
        snapshot = {
            "now": time.time(),
            "layer": shown_url(settings["layer"]),
            "max_age": settings["max_age"],
            "every": EVERY,
            "report": report,
            "error": error,
        }
        await feed.publish(json.dumps(snapshot, default=str))
        await asyncio.sleep(EVERY)  # pacing the looks, not waiting for anything


def _response(status: int, reason: str, kind: str, body: bytes) -> Response:
    headers = Headers(
        [
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Connection", "close"),
        ]
    )
    return Response(status, reason, headers, body)


def same_origin(request: Request) -> bool:
    """A browser's WebSocket from a page of this server (or a client with no Origin)."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("Host")


class Page:
    """The HTTP side: the page at ``/``, the last snapshot at ``/status.json``, the
    WebSocket at ``/ws``; anything else is a 404."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.html = resources.files("gateways").joinpath("static/status.html").read_bytes()

    def route(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        if path == "/ws":
            if same_origin(request):
                return None  # go on with the WebSocket handshake
            return connection.respond(403, "WebSocket from another origin refused\n")
        if path in ("/", "/index.html"):
            return _response(200, "OK", "text/html; charset=utf-8", self.html)
        if path == "/status.json":
            return _response(200, "OK", "application/json", self.feed.text.encode())
        return connection.respond(404, "not found: the status page is at /\n")

    async def push(self, connection: ServerConnection) -> None:
        """Send each new snapshot to one page until it goes away."""
        version = 0
        with contextlib.suppress(ConnectionClosed):
            while (latest := await self.feed.after(version)) is not None:
                version, text = latest
                await connection.send(text)


def _address(server_socket: Any) -> str:
    host, port = server_socket.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve_page(layer: BaseChannelLayer, settings: Settings, stopping: asyncio.Event) -> None:
    """Serve the page on ``--web-bind``:``--web`` until ``stopping`` is set."""
    feed = Feed()
    page = Page(feed)
    quiet = logging.getLogger("gateways.status.websockets")
    if quiet.level == logging.NOTSET:  # one line per page view is noise at info
        quiet.setLevel(logging.WARNING)
    async with serve(
        page.push, settings["web_bind"], settings["web"], process_request=page.route, logger=quiet
    ) as server:
        log.info("status page on http://%s", _address(next(iter(server.sockets))))
        watcher = asyncio.create_task(watch(layer, feed, settings))
        try:
            await stopping.wait()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await feed.close()


def run_page(layer: BaseChannelLayer, settings: Settings) -> int:
    """Serve until SIGTERM or SIGINT (exit 0); 1 when the port cannot be bound."""

    async def main() -> int:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        try:
            await serve_page(layer, settings, stopping)
        except OSError as exc:
            log.error(
                "cannot serve the status page on %s port %s: %s",
                settings["web_bind"],
                settings["web"],
                exc,
            )
            return 1
        finally:
            await layer.close()
        log.info("status page stopped")
        return 0

    return asyncio.run(main())
