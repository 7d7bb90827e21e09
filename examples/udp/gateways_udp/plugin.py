"""gateways plugin ``udp``: each datagram in is a ``udp.receive`` message; answers go back.

A third-party plugin built on ``gateways.plugin`` alone (docs/plugins.md walks through
it). Each datagram gets a reply channel of its own, forgotten after the first answer (sent
back to the sender) or ``--udp-reply-timeout`` seconds: to say more, or to anyone else, a
consumer puts ``{host, port, data}`` on ``udp.send``. As in UDP, datagrams are unordered.
On SIGTERM new datagrams are dropped; the drain waits (``--grace``) for answers still due.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from gateways.plugin import (
    ChannelSpec,
    Host,
    Interface,
    Option,
    Options,
    hookimpl,
    option,
    port,
    positive,
)


class UdpReceive(TypedDict):
    reply_channel: str
    data: bytes
    client: list[Any]  # [host, port]
    server: list[Any]  # [host, port]


class UdpReply(TypedDict):
    data: bytes


class UdpSend(TypedDict):
    host: str
    port: int
    data: bytes


class UdpOptions(Options):
    udp_bind: str = option("address the UDP interface listens on", default="127.0.0.1")
    udp_port: int = option("UDP port (0: any free port)", type=port, default=9999)
    udp_reply_timeout: float = option(
        "seconds a datagram waits for its answer", type=positive(float), default=10.0
    )


@hookimpl
def gateways_options() -> list[Option]:
    return UdpOptions.declare()


@hookimpl
def gateways_channels() -> list[ChannelSpec]:
    return [
        ChannelSpec("udp.receive", "produces", UdpReceive, "one datagram from a client"),
        ChannelSpec("udp.reply!", "consumes", UdpReply, "the answer to one datagram"),
        ChannelSpec("udp.send", "consumes", UdpSend, "a datagram to any address"),
    ]


@hookimpl
def gateways_interfaces(host: Host) -> list[Interface]:
    return [UdpInterface(host)]


class UdpInterface(Interface, asyncio.DatagramProtocol):
    """One UDP socket: datagrams in; answers and ``udp.send`` out of the same port."""

    name = "udp"
    reply_prefix = "udp.reply"
    consumes = ("udp.send",)

    async def listen(self) -> None:
        self.options = UdpOptions.read(self.settings)
        bind, number = self.options.udp_bind, self.options.udp_port
        endpoint = asyncio.get_running_loop().create_datagram_endpoint
        opening = endpoint(lambda: self, local_addr=(bind, number))
        self.transport, _ = await self.bind(opening, address=f"{bind}:{number}", flag="--udp-port")
        self.server = list(self.transport.get_extra_info("sockname")[:2])
        self.listening("udp", *self.server)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if not self.draining:
            self.spawn(self.receive(data, list(addr[:2])), "udp datagram")

    async def receive(self, data: bytes, client: list[Any]) -> None:
        """Put one datagram on ``udp.receive``, with a reply channel back to its sender."""
        timeout = self.options.udp_reply_timeout
        channel = self.reply_channel(
            lambda r: self.sendto(r.get("data"), client), once=True, timeout=timeout
        )
        message = {"reply_channel": channel, "data": data, "client": client, "server": self.server}
        if not await self.send("udp.receive", message):
            self.forget(channel)  # UDP may lose datagrams: logged, not retried

    async def handle(self, channel: str, message: dict[str, Any]) -> None:
        """One ``udp.send``: a datagram to any address, refused (and logged) when bad."""
        host, number = message.get("host"), message.get("port")
        try:
            if not isinstance(host, str) or not host:
                raise ValueError(f"host must be a name or an address, got {host!r}")
            if type(number) is not int or not 0 < number < 65536:
                raise ValueError(f"port must be a number from 1 to 65535, got {number!r}")
            family = self.transport.get_extra_info("socket").family
            found = await asyncio.get_running_loop().getaddrinfo(host, number, family=family)
            self.sendto(message.get("data"), found[0][4])
        except (ValueError, OSError) as exc:
            self.log.error("udp: udp.send refused: %s", exc)

    def sendto(self, data: object, address: tuple[Any, ...] | list[Any]) -> None:
        if not isinstance(data, bytes):
            raise ValueError(f"data must be bytes, got {type(data).__name__}")
        self.transport.sendto(data, tuple(address))

    def error_received(self, exc: Exception) -> None:
        """asyncio reports here a ``sendto`` that failed (too large, not allowed)."""
        self.log.error("udp: a datagram could not be sent (%s)", exc)

    async def close_all(self) -> None:
        self.transport.close()
