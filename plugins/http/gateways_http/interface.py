"""The HTTP interface: listens on Twisted endpoints and runs the one reply loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from gateways_http.accesslog import AccessLog
from gateways_http.dispatcher import ReplyDispatcher
from gateways_http.options import HttpConfig
from gateways_http.server import HttpServer

log = logging.getLogger("gateways.http")


def endpoint_strings(config: HttpConfig) -> list[str]:
    """``--http-endpoint`` values, or one TCP endpoint from ``--http-bind``/``--http-port``."""
    if config.endpoints:
        return list(config.endpoints)
    interface = config.bind.replace(":", r"\:")
    return [f"tcp:port={config.port}:interface={interface}"]


def describe(description: str, address: Any) -> str:
    """``https://127.0.0.1:8443`` for the log line tests and operators read."""
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    if host is None or port is None:
        return f"unix:{getattr(address, 'name', description)} (http)"
    scheme = "https" if description.split(":", 1)[0] in ("ssl", "tls") else "http"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


class HttpInterface:
    name = "http"

    def __init__(self, host: Any, config: HttpConfig | None = None) -> None:
        self.host = host
        self.config = config or HttpConfig.from_settings(host.settings)
        self.layer = host.layer
        self.dispatcher = ReplyDispatcher(self.layer)
        self.access_log = AccessLog(self.config.access_log) if self.config.access_log else None
        self.server: HttpServer | None = None
        self.ports: list[Any] = []

    async def start(self) -> None:
        from twisted.internet import reactor
        from twisted.internet.endpoints import serverFromString

        loop = asyncio.get_running_loop()
        await self.dispatcher.start()
        self.server = HttpServer(
            self.config, self.layer, self.dispatcher, self.host, self.access_log
        )
        self.server.start_sweeping()
        for description in endpoint_strings(self.config):
            try:
                endpoint = serverFromString(reactor, description)
            except (ValueError, TypeError, KeyError) as exc:
                raise ValueError(f"--http-endpoint {description!r}: {exc}") from None
            port = await endpoint.listen(self.server).asFuture(loop)
            self.ports.append(port)
            log.info("listening on %s", describe(description, port.getHost()))

    async def drain(self, grace: float) -> None:
        """Stop accepting, let requests in flight finish (up to ``grace``), then close."""
        loop = asyncio.get_running_loop()
        for port in self.ports:
            await port.stopListening().asFuture(loop) if port else None
        self.ports = []
        server = self.server
        if server is not None:
            server.draining = True
            for conn in list(server.connections):
                conn.close_if_idle()
            server.check_quiet()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.quiet.wait(), grace)
            for conn in list(server.connections):
                conn.kill()
            for task in list(server.tasks):
                task.cancel()
            server.stop_sweeping()
        await self.dispatcher.close()
        if self.access_log is not None:
            self.access_log.close()
