"""A malicious IRC server we control, and the bot (the real IRC interface) connected to it.

``HostileServer`` is a small asyncio TCP server in the test's own event loop: it lets
the bot register (``001``), answers its JOINs and PINGs, keeps every line the bot sends,
and writes whatever bytes a test wants, malformed or not. It counts connections: a bot
that lost its link and reconnected shows as a second one.

``HostileBot`` runs the IRC interface in the same loop on a memory layer, with a real
worker whose consumer records every ``irc-client.receive``; ``probe()`` sends a valid
PRIVMSG and waits until a consumer got it, which after any bytes proves the link
survived them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from gateways_irc.client import NetworkClient
from gateways_irc.interface import IrcInterface
from gateways_irc.options import IrcOptions

from gateways import core_options, route
from gateways.config import resolve
from gateways.layers import BaseChannelLayer, get_layer
from gateways.plugins import get_plugin_host
from gateways.routing import Router
from gateways.worker import Worker

CHANNEL = "#test"
NETWORK = "hostile"
ALICE = ":alice!alice@users.test"


class HostileServer:
    def __init__(self) -> None:
        self.connections = 0
        self.received: list[str] = []
        self.writer: asyncio.StreamWriter | None = None
        self.registered = asyncio.Event()
        self._got_line = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._server is not None:
            self._server.close()
        if self._handlers:  # ended by the closed socket; never left for the loop to cancel
            await asyncio.wait(self._handlers, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        self.writer = writer
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                await self._answer(line.decode("utf-8", "replace").rstrip("\r\n"), writer)
        writer.close()

    async def _answer(self, line: str, writer: asyncio.StreamWriter) -> None:
        async with self._got_line:
            self.received.append(line)
            self._got_line.notify_all()
        command, _, rest = line.partition(" ")
        if command == "USER":
            writer.write(b":irc.hostile 001 bot :Welcome\r\n")
            self.registered.set()
        elif command == "JOIN":
            writer.write(f":bot!bot@gateways.test JOIN {rest.split()[0]}\r\n".encode())
        elif command == "PING":
            writer.write(f":irc.hostile PONG irc.hostile {rest}\r\n".encode())

    async def send(self, data: bytes) -> None:
        assert self.writer is not None, "the bot is not connected"
        self.writer.write(data)
        await self.writer.drain()

    async def wait_received(self, pattern: str, timeout: float = 10.0) -> str:
        """The first line from the bot matching ``pattern`` (waiting for it)."""
        regex = re.compile(pattern)
        async with asyncio.timeout(timeout), self._got_line:
            while True:
                for line in self.received:
                    if regex.search(line):
                        return line
                await self._got_line.wait()


class HostileBot:
    """The IRC interface on a memory layer, connected to a :class:`HostileServer`."""

    def __init__(self, server: HostileServer, layer: BaseChannelLayer) -> None:
        self.server = server
        self.layer = layer
        self.interface: IrcInterface | None = None
        self.events: list[dict[str, Any]] = []  # every irc-client.receive read so far
        self._probes = itertools.count(1)
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.worker: Worker | None = None
        self._working: asyncio.Task[None] | None = None

    async def _record(self, message: Any) -> None:
        await self._inbox.put(dict(message.content))

    async def start(self, port: int, **given: Any) -> None:
        args = {
            "plugin": ["irc"],
            "irc_server": f"127.0.0.1:{port}",
            "irc_network": NETWORK,
            "irc_nick": "bot",
            "irc_channel": [CHANNEL],
            "irc_flood_rate": 0.0,
            "irc_ping_interval": 0.0,
            "irc_reconnect_delay": 0.1,
            **given,
        }
        declared = [*core_options.gateways_options(), *IrcOptions.declare()]
        settings = resolve(declared, args, environ={})
        ignore = [route(f"irc-client.{kind}", lambda m: None) for kind in ("connect", "disconnect")]
        routes = Router([route("irc-client.receive", self._record), *ignore])
        self.worker = Worker(self.layer, routes, get_plugin_host(), concurrency=1)
        self._working = asyncio.create_task(self.worker.run(grace=2))
        self.interface = IrcInterface(SimpleNamespace(layer=self.layer, settings=settings))
        await self.interface.start()
        await asyncio.wait_for(self.server.registered.wait(), 10)
        await self.server.wait_received(rf"^JOIN {CHANNEL}")

    @property
    def client(self) -> NetworkClient:
        assert self.interface is not None
        return self.interface.by_name[NETWORK]

    async def stop(self) -> None:
        if self.interface is not None:
            await self.interface.drain(1.0)
        if self.worker is not None and self._working is not None:
            self.worker.stop()
            await self._working

    async def next_event(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next irc-client.receive a consumer got."""
        message = await asyncio.wait_for(self._inbox.get(), timeout)
        self.events.append(message)
        return message

    async def wait_event(self, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """The next event whose fields include ``fields`` (others are kept in events)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.next_event(timeout)
                if all(message.get(k) == v for k, v in fields.items()):
                    return message

    async def probe(self, timeout: float = 10.0, what: object = "") -> None:
        """A valid PRIVMSG reaches irc-client.receive, on the first connection still
        (``what`` was sent before it: named when it did not)."""
        body = f"probe {next(self._probes)}"
        await self.server.send(f"{ALICE} PRIVMSG {CHANNEL} :{body}\r\n".encode())
        try:
            await self.wait_event(timeout, type="message", body=body)
        except TimeoutError:
            raise AssertionError(f"no {body!r} delivered after {what!r}") from None
        assert self.server.connections == 1, f"the bot reconnected after {what!r}"
        assert self.client.ready.is_set()


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records that carry a traceback (or say they do)."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.exc_info or "Traceback" in record.getMessage()
    ]


@contextlib.asynccontextmanager
async def hostile_bot(**given: Any) -> AsyncIterator[HostileBot]:
    """A bot connected to a fresh :class:`HostileServer`; drained and closed after."""
    server = HostileServer()
    port = await server.start()
    layer = get_layer("memory://")
    bot = HostileBot(server, layer)
    try:
        await bot.start(port, **given)
        yield bot
    finally:
        await bot.stop()
        await server.close()
        await layer.close()
