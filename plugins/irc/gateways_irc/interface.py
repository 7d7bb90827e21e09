"""The IRC interface: one client per network, one receive loop for everything to send.

Every network gets its own reply channel under ONE process-specific prefix
(``irc-client.reply.<process>!``), so the worker keeps each network's events in order
and a single ``receive`` on the bare prefix brings every reply home.

Unsolicited sends arrive on ``irc-client.send``. On a layer shared by several IRC
interface processes, the one that happens to receive a send for a network it is not
connected to passes it on to ``irc-client.send.<network>``, a channel only the
processes connected to that network listen on (consumers may also send there
directly). On a process-local layer there is nobody to pass it to: it is logged and
dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any

from gateways.layers import BaseChannelLayer
from gateways.layers.receiving import receive_forever
from gateways_irc import options
from gateways_irc.client import NetworkClient
from gateways_irc.publisher import Publisher
from gateways_irc.text import OutgoingError

log = logging.getLogger("gateways.irc")

SEND_CHANNEL = "irc-client.send"
REPLY_PREFIX = "irc-client.reply"
POLL_SECONDS = 1.0
FIRST_CONNECT_WAIT = 10.0


def network_channel(network: str) -> str:
    """``irc-client.send.<network>``, with what a channel name cannot hold made ``-``."""
    return f"{SEND_CHANNEL}.{re.sub(r'[^A-Za-z0-9._-]', '-', network)[:70]}"


def quiet_irc_library() -> None:
    """The ``irc`` package logs every raw line at DEBUG, passwords included."""
    for name in ("irc", "irc.client", "irc.client_aio"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


class IrcInterface:
    name = "irc"

    def __init__(self, settings: Mapping[str, Any], layer: BaseChannelLayer) -> None:
        self.networks = options.networks(settings)  # type: ignore[arg-type]
        self.layer = layer
        self.publisher = Publisher(layer)
        self.clients: dict[str, NetworkClient] = {}  # reply or network channel -> client
        self.by_name: dict[str, NetworkClient] = {}
        self.receive_on: list[str] = []
        self._stopping = asyncio.Event()
        self._receiver: asyncio.Task[None] | None = None

    async def start(self) -> None:
        quiet_irc_library()
        self.publisher.start()
        prefix = ""
        for network in self.networks:
            reply = await self.layer.new_channel(REPLY_PREFIX)
            prefix = reply[: reply.index("!") + 1]
            client = NetworkClient(network, reply, self.publisher.publish)
            self.clients[reply] = self.clients[network_channel(network.name)] = client
            self.by_name[network.name] = client
        own = [network_channel(n.name) for n in self.networks]
        self.receive_on = [prefix, SEND_CHANNEL, *own]
        for client in self.by_name.values():
            client.start()
        self._receiver = asyncio.get_running_loop().create_task(self._receive_loop())
        self._receiver.add_done_callback(self._receiver_done)
        firsts = [asyncio.ensure_future(c.first_outcome.wait()) for c in self.by_name.values()]
        _, late = await asyncio.wait(firsts, timeout=FIRST_CONNECT_WAIT)
        for waiter in late:
            waiter.cancel()
        log.info("irc: receiving replies on %s and sends on %s", prefix, ", ".join(own))

    @staticmethod
    def _receiver_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("irc: the receive loop crashed", exc_info=task.exception())

    async def _receive_loop(self) -> None:
        async for channel, content in receive_forever(
            self.layer, self.receive_on, name="irc", timeout=POLL_SECONDS, stopping=self._stopping
        ):
            await self._dispatch(channel, content)

    async def _dispatch(self, channel: str, content: dict[str, Any]) -> None:
        client = self.clients.get(channel)
        if client is None and channel == SEND_CHANNEL:
            client = await self._route_send(content)
        if client is None:
            if channel != SEND_CHANNEL:
                log.warning("irc: a message on %s matches no network here; dropped", channel)
            return
        try:
            client.enqueue(content)
        except OutgoingError as exc:
            log.error("irc: cannot send %r on %s: %s", content, client.name, exc)

    async def _route_send(self, content: Mapping[str, Any]) -> NetworkClient | None:
        """The client for an ``irc-client.send``, or None once it is passed on or refused."""
        network = content.get("network")
        if not isinstance(network, str) or not network:
            log.error("irc: an irc-client.send without 'network' (%r) is dropped", content)
            return None
        client = self.by_name.get(network)
        if client is not None:
            return client
        if self.layer.process_local:
            log.error(
                "irc: irc-client.send for network %r, but this process is connected to %s "
                "only; dropped",
                network,
                ", ".join(sorted(self.by_name)),
            )
            return None
        try:
            await self.layer.send(network_channel(network), dict(content))
        except Exception as exc:
            log.error("irc: cannot pass on a send for network %r: %s", network, exc)
        return None

    async def drain(self, grace: float) -> None:
        """Flush queued lines within ``grace``, QUIT every network, publish what is left."""
        self._stopping.set()
        if self._receiver is not None:
            self._receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiver
        await asyncio.gather(*(c.drain(grace) for c in self.by_name.values()))
        await self.publisher.drain(min(grace, 5.0))
