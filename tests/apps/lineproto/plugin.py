"""A tiny line-based TCP interface plugin: each line in is a ``line.receive`` message,
each ``{"text": ...}`` reply goes back as a line. It exercises every core hook, so the
core is tested without depending on any bundled protocol plugin (and it is the
example in docs/plugins.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, TypedDict

from gateways import hookimpl
from gateways.config import ConfigError, Option, Settings
from gateways.plugins import ChannelSpec

log = logging.getLogger("lineproto")


class LineReceive(TypedDict):
    reply_channel: str
    text: str


class LineHooks:
    """Hookspecs this plugin adds for other plugins (here: changing the greeting)."""

    @staticmethod
    def lineproto_greeting(peer: str) -> str | None:
        """Return a greeting for a new connection, or None."""


@hookimpl
def gateways_addhooks(pluginmanager: Any) -> None:
    import pluggy

    spec = pluggy.HookspecMarker("gateways")
    pluginmanager.add_hookspecs(
        type(
            "Specs",
            (),
            {
                "lineproto_greeting": staticmethod(
                    spec(firstresult=True)(LineHooks.lineproto_greeting)
                )
            },
        )
    )


@hookimpl
def lineproto_greeting(peer: str) -> str:
    return f"hello {peer.split(':')[0]}"


@hookimpl
def gateways_options() -> Sequence[Option]:
    return [
        Option("line_port", "TCP port for the line interface", type=int, default=0),
        Option("line_greet", "greet each connection", type=bool, default=False),
    ]


@hookimpl
def gateways_configure(settings: Settings) -> None:
    port = settings.get("line_port")
    if port is not None and not 0 <= port < 65536:
        raise ConfigError(f"--line-port: {port} is not a TCP port")


@hookimpl
def gateways_channels() -> Sequence[ChannelSpec]:
    return [
        ChannelSpec("line.receive", "produces", LineReceive, "one line from a client"),
        ChannelSpec("line.reply", "consumes", None, "replies on the reply channel"),
    ]


@hookimpl
def gateways_interfaces(host: Any) -> Sequence[Any]:
    return [LineInterface(host)]


@hookimpl
def gateways_host_started(host: Any) -> None:
    log.info("lineproto sees the host started with %d worker(s)", len(host.workers))


@hookimpl
async def gateways_host_stopping(host: Any, grace: float) -> None:
    log.info("lineproto sees the host stopping, grace %.0f", grace)


@hookimpl
async def gateways_unrouted(message: Any) -> None:
    if message.channel == "line.receive":
        await message.reply({"text": "NOROUTE"})


@hookimpl
async def gateways_consumer_failed(message: Any, error: BaseException) -> None:
    if message.channel == "line.receive" and not message.replied:
        await message.reply({"text": f"ERROR {type(error).__name__}"})


class LineInterface:
    name = "line"

    def __init__(self, host: Any) -> None:
        self.host = host
        self.writers: dict[str, asyncio.StreamWriter] = {}
        self.server: asyncio.Server | None = None
        self.receiver: asyncio.Task[None] | None = None
        self.prefix = ""

    async def start(self) -> None:
        self.prefix = (await self.host.layer.new_channel("line.reply")).split("!")[0] + "!"
        self.server = await asyncio.start_server(
            self.serve_client, "127.0.0.1", self.host.settings["line_port"]
        )
        port = self.server.sockets[0].getsockname()[1]
        log.info("listening on line://127.0.0.1:%d", port)
        self.receiver = asyncio.create_task(self.deliver_replies())

    async def deliver_replies(self) -> None:
        while True:
            channel, reply = await self.host.layer.receive([self.prefix])
            writer = self.writers.get(channel)
            if writer is not None and reply is not None:
                writer.write(reply["text"].encode() + b"\n")

    async def serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        channel = f"{self.prefix}{len(self.writers)}x{id(writer)}"
        self.writers[channel] = writer
        if self.host.settings.get("line_greet"):
            host, port = writer.get_extra_info("peername")[:2]
            peer = f"{host}:{port}"
            writer.write(self.host.hook.lineproto_greeting(peer=peer).encode() + b"\n")
        try:
            while line := await reader.readline():
                await self.host.layer.send(
                    "line.receive",
                    {
                        "reply_channel": channel,
                        "text": line.decode().rstrip("\r\n"),
                    },
                )
        finally:
            self.writers.pop(channel, None)
            writer.close()

    async def drain(self, grace: float) -> None:
        assert self.server is not None and self.receiver is not None
        self.server.close()
        for writer in list(self.writers.values()):
            writer.write(b"BYE\n")
        self.receiver.cancel()
