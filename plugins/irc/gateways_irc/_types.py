"""Message shapes of the IRC channels (design section 7), as TypedDicts, and the
callables the interface hands to the parts that run under it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, NotRequired, TypedDict

#: Runs a coroutine as a supervised service of the interface (``Interface.daemon``).
Daemon = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]
#: Puts one event on a channel of the layer, in order (the network's ``Flow.send``).
Publish = Callable[[str, dict[str, Any]], None]

EventType = Literal["message", "action", "notice", "join", "part", "quit", "kick", "nick", "topic"]
ReplyType = Literal["message", "action", "notice", "join", "part"]


class IrcReceive(TypedDict):
    """``irc-client.receive``: something happened on a network the bot is on."""

    reply_channel: str
    network: str
    type: EventType
    user: str | None  # nick of whoever did it
    user_host: str | None  # "user@host" of that nick
    channel: str | None  # "#name"; the bot's nick for a private message; None for quit/nick
    body: str  # text, part/quit/kick reason, new topic, or the new nick
    target: NotRequired[str]  # kick only: the nick that was kicked
    bot_nick: NotRequired[str]  # the bot's nick on that network when it happened


class IrcReply(TypedDict, total=False):
    """What a consumer sends on ``reply_channel`` (type defaults to ``message``)."""

    channel: str
    type: ReplyType
    body: str


class IrcSend(IrcReply, total=False):
    """``irc-client.send``: an unsolicited line from any consumer."""

    network: str


class IrcConnection(TypedDict):
    """``irc-client.connect`` / ``irc-client.disconnect``."""

    reply_channel: str
    network: str
    server: str  # "host:port"
    nick: str
