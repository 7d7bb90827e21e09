"""A running ``gateways serve --plugin http --plugin websocket`` and ways to talk to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateways.testing import GatewaysProcess

APP = "websocket_app:routes"
PLUGINS = ("--plugin", "http", "--plugin", "websocket")


@dataclass
class Served:
    process: GatewaysProcess
    host: str
    port: int

    def url(self, path: str) -> str:
        return f"ws://{self.host}:{self.port}{path}"

    def connect(self, path: str, **kwargs: Any) -> Any:
        """``async with served.connect("/echo") as ws``: a real ``websockets`` client."""
        kwargs.setdefault("open_timeout", 10)
        return connect(self.url(path), **kwargs)

    async def refused(self, path: str, **kwargs: Any) -> int:
        """The HTTP status a handshake is refused with (fails if it opens)."""
        with pytest.raises(InvalidStatus) as refused:
            async with self.connect(path, **kwargs):
                pass
        return int(refused.value.response.status_code)


@pytest.fixture
def serve_ws(gateways_process: Callable[..., GatewaysProcess]) -> Callable[..., Served]:
    """Start a server with extra flags: ``serve_ws("--ws-connect-timeout", "1")``."""

    def start(
        *flags: str, app: str = APP, plugins: tuple[str, ...] = PLUGINS, **kwargs: Any
    ) -> Served:
        process = gateways_process("serve", app, *plugins, "--http-port", "0", *flags, **kwargs)
        host, port = process.address("http")
        return Served(process, host, port)

    return start


@pytest.fixture
def served(serve_ws: Callable[..., Served]) -> Served:
    return serve_ws("--ws-connect-timeout", "1")


async def next_close(ws: ClientConnection) -> int | None:
    """Read until the server closes; the close code it sent."""
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass  # a close code other than 1000/1001
    return ws.close_code
