"""``IrcCommunicator``: IRC events for the consumers as the IRC plugin would send them.

Messages follow design section 7 (``irc-client.receive`` with ``reply_channel``,
``network``, ``type``, ``user``, ``user_host``, ``channel``, ``body``, and
``bot_nick``). One communicator is one network: one reply channel for all its events.
"""

from __future__ import annotations

from typing import Any

from gateways.layers import BaseChannelLayer
from gateways.testing.base import TIMEOUT, App, ApplicationCommunicator


class IrcCommunicator(ApplicationCommunicator):
    """A network's events for ``app``: ``replies = await comm.say("#chan", "alice",
    "hello")``; unsolicited lines are in ``comm.sent("irc-client.send")``.

    ``layer``, ``raise_errors`` and ``timeout`` are those of
    :class:`ApplicationCommunicator`.

    Args:
        app: Routes, a router, ``module:attribute``, or one ``irc-client.receive``
            consumer.
        network: The network name in every message.
        nick: The bot's nick (``bot_nick``; a private message's ``channel``).
        server: ``host:port`` in ``irc-client.connect``/``disconnect``.

    Attributes:
        replies: Every reply sent on the network's reply channel, in order.
    """

    channels = ("irc-client.receive",)
    reply_prefix = "irc-client.reply"
    numbered = True

    def __init__(
        self,
        app: App,
        *,
        network: str = "testnet",
        nick: str = "bot",
        server: str = "irc.test.invalid:6667",
        layer: BaseChannelLayer | None = None,
        raise_errors: bool = True,
        timeout: float = TIMEOUT,
    ) -> None:
        super().__init__(app, layer=layer, raise_errors=raise_errors, timeout=timeout)
        self.network, self.nick, self.server = network, nick, server

    @property
    def replies(self) -> list[dict[str, Any]]:
        """Every message consumers sent on the network's reply channel, in order."""
        return self.sent(self.reply_channel) if self.reply_channel else []

    async def event(
        self,
        type: str,
        *,
        user: str | None = None,
        channel: str | None = None,
        body: str = "",
        user_host: str | None = None,
        target: str | None = None,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """Send one ``irc-client.receive`` event and wait until it was handled; the
        replies sent on the reply channel meanwhile. Unless in ``async with``, the
        worker stops after."""
        await self.start()
        assert self.reply_channel is not None
        message: dict[str, Any] = {
            "reply_channel": self.reply_channel,
            "network": self.network,
            "type": type,
            "user": user,
            "user_host": user_host or (f"~{user}@test.invalid" if user else None),
            "channel": channel,
            "body": body,
            "bot_nick": self.nick,
        }
        if target is not None:
            message["target"] = target
        return await self._handled("irc-client.receive", message, timeout)

    async def _handled(
        self, channel: str, message: dict[str, Any], timeout: float | None
    ) -> list[dict[str, Any]]:
        kept, mark = self.running, len(self.replies)
        try:
            await self.send_input(channel, message)
            await self.wait_idle(timeout)
            replies = self.replies[mark:]
            for _ in replies:  # taken off the layer too, as the interface reads them
                await self.receive_output(timeout)
        finally:
            if not kept:
                await self.stop()
        return replies

    async def say(
        self, channel: str, user: str, body: str, *, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """``user`` says ``body`` on ``channel`` (the bot's nick: a private message)."""
        return await self.event("message", user=user, channel=channel, body=body, timeout=timeout)

    async def connect(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """``irc-client.connect``: the bot got connected to the network."""
        return await self._connection("irc-client.connect", timeout)

    async def disconnect(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """``irc-client.disconnect``: the bot lost the network."""
        return await self._connection("irc-client.disconnect", timeout)

    async def _connection(self, channel: str, timeout: float | None) -> list[dict[str, Any]]:
        await self.start()
        assert self.reply_channel is not None
        message = {
            "reply_channel": self.reply_channel,
            "network": self.network,
            "server": self.server,
            "nick": self.nick,
        }
        return await self._handled(channel, message, timeout)
