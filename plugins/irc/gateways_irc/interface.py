"""The IRC interface: one client per network, on the runtime of :class:`Interface`.

Every network gets its own reply channel under the interface's ONE process-specific
prefix (``irc-client.reply.<process>!``), and the base class's single receive loop brings
every reply home. A network's events (``irc-client.receive``, ``irc-client.connect``,
``irc-client.disconnect``) all name that reply channel and go to the layer through one
:class:`~gateways.plugin.Flow` per network, for the network's life (reconnects
included): numbered, so workers run them one at a time and in order however many there
are, and bounded, so a network that talks faster than its events are handled is no longer
read (the IRC server and TCP hold the rest) instead of filling the channel. A full channel
pauses the network too; an event is lost only when the layer refuses it outright or the
channel stays full for the flow's whole wait (logged).

Unsolicited sends arrive on ``irc-client.send``. On a layer shared by several IRC
interface processes, the one that happens to receive a send for a network it is not
connected to passes it on to ``irc-client.send.<network>``, a channel only the
processes connected to that network listen on (consumers may also send there
directly). On a process-local layer there is nobody to pass it to: it is logged and
dropped. Sends are handled one at a time (the default ``concurrency`` of 1), so they
keep the order they arrived in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from gateways.plugin import ChannelFull, Flow, Host, Interface, Throttled, printable
from gateways_irc import options
from gateways_irc.client import NetworkClient
from gateways_irc.text import OutgoingError

SEND_CHANNEL = "irc-client.send"
FIRST_CONNECT_WAIT = 10.0
#: Longest wait for a server to close the link after QUIT, and for the last events.
CLOSE_WAIT = 5.0
#: How often the last events' flush looks whether every flow is done.
FLUSH_POLL = 0.02


def network_channel(network: str) -> str:
    """``irc-client.send.<network>``, with what a channel name cannot hold made ``-``."""
    return f"{SEND_CHANNEL}.{re.sub(r'[^A-Za-z0-9._-]', '-', network)[:70]}"


def quiet_irc_library() -> None:
    """The ``irc`` package logs every raw line at DEBUG, passwords included."""
    for name in ("irc", "irc.client", "irc.client_aio"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


class IrcInterface(Interface):
    name = "irc"
    reply_prefix = "irc-client.reply"

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.by_name: dict[str, NetworkClient] = {}
        self.by_channel: dict[str, NetworkClient] = {}  # irc-client.send.<network> -> client
        self.events: dict[str, Flow] = {}  # network name -> its flow (from listen() on)
        self.warn = Throttled(self.log)  # per-message warnings: one a minute, with counts
        for network in options.networks(self.settings):
            client = NetworkClient(network, self.daemon, self.changed)
            self.by_name[network.name] = self.by_channel[network_channel(network.name)] = client

    def channels(self) -> Sequence[str]:
        return [SEND_CHANNEL, *self.by_channel]

    async def listen(self) -> None:
        """Connect every network; return once each connected or failed its first attempt."""
        quiet_irc_library()
        for client in self.by_name.values():
            reply_channel = self.reply_channel(partial(self._send, client), persistent=True)
            events = self.events[client.name] = self.flow(
                reply_channel,
                pause=client.pause_reading,
                resume=client.resume_reading,
                failed=partial(self._events_lost, client),
            )
            client.start(reply_channel, events.send)
        firsts = asyncio.gather(*(c.first_outcome.wait() for c in self.by_name.values()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(firsts, FIRST_CONNECT_WAIT)
        self.log.info(
            "irc: receiving replies on %s and sends on %s",
            self.prefix,
            ", ".join(self.by_channel),
        )

    def _events_lost(self, client: NetworkClient, channel: str, error: Exception) -> None:
        """The flow could not put an event on the layer: it and the ones queued behind
        it are lost; the network goes on (and is read again)."""
        why = "the channel is full" if isinstance(error, ChannelFull) else str(error)
        key = f"{client.label} events lost {channel}"
        self.warn.warning(key, "%s: events for %s dropped: %s", client.label, channel, why)

    # -- what consumers send --------------------------------------------------------------

    def _send(self, client: NetworkClient, message: Mapping[str, Any]) -> None:
        """Queue a reply or send on ``client``'s network; a bad one is logged, not sent."""
        try:
            client.enqueue(message)
        except OutgoingError as exc:
            self.warn.error(
                f"{client.label} cannot send {exc.field}",
                "irc: cannot send %s on %s: %s",
                printable(repr(message)),
                client.name,
                printable(str(exc)),
            )

    async def handle(self, channel: str, message: dict[str, Any]) -> None:
        """An unsolicited send, on ``irc-client.send`` or a network's own channel."""
        if channel == SEND_CHANNEL:
            network = message.get("network")
            if not isinstance(network, str) or not network:
                self.warn.error(
                    "no network",
                    "irc: an irc-client.send without 'network' (%s) is dropped",
                    printable(repr(message)),
                )
            elif network in self.by_name:
                self._send(self.by_name[network], message)
            else:
                await self._pass_on(network, message)
        elif channel in self.by_channel:
            self._send(self.by_channel[channel], message)
        else:
            self.warn.warning(
                "no network here", "irc: a message on %s matches no network here; dropped", channel
            )

    async def _pass_on(self, network: str, message: Mapping[str, Any]) -> None:
        """Hand a send for a network this process is not on to the processes that are."""
        if self.layer.process_local:
            self.warn.error(
                "unknown network",
                "irc: irc-client.send for network %s, but this process is connected to %s "
                "only; dropped",
                printable(repr(network)),
                ", ".join(sorted(self.by_name)),
            )
            return
        try:
            await self.layer.send(network_channel(network), dict(message))
        except Exception as exc:
            self.warn.error(
                "cannot pass on",
                "irc: cannot pass on a send for network %s: %s",
                printable(repr(network)),
                exc,
            )

    # -- drain ------------------------------------------------------------------------------

    async def stop_accepting(self) -> None:
        """Reconnect no more; queued lines keep going out while the links are up."""
        for client in self.by_name.values():
            client.stop()

    def outstanding(self) -> int:
        """Sends being handled, and queued lines that can still go out."""
        return self.handling + sum(c.unsent() for c in self.by_name.values())

    async def close_all(self) -> None:
        """QUIT every network, then (within what is left of the grace period) wait for the
        servers to close the links and publish the last events (disconnects)."""
        for client in self.by_name.values():
            client.quit()
        self.spawn(self._goodbyes(), "irc goodbyes")

    async def _goodbyes(self) -> None:
        await asyncio.gather(*(c.gone(CLOSE_WAIT) for c in self.by_name.values()))
        await self._flush_events(CLOSE_WAIT)

    async def _flush_events(self, timeout: float) -> None:
        """Let each network's flow send what it holds (the last disconnects among it),
        waiting up to ``timeout``; a flow closes itself once it sent its last event."""
        flows = list(self.events.values())
        for flow in flows:
            flow.finish()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not all(flow.closed for flow in flows):  # noqa: ASYNC110 - no event
                    await asyncio.sleep(FLUSH_POLL)
