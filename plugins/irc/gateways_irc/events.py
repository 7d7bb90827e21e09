"""From an ``irc.client`` event to the fields of an ``irc-client.receive`` message.

The ``irc`` package already parses lines, undoes CTCP quoting and tells channel
messages (``pubmsg``) from private ones (``privmsg``); this only renames and picks.
Notices from the server itself (no ``nick!user@host`` source) are not chat and are
left out, like replies to CTCP queries.
"""

from __future__ import annotations

from typing import Any

#: irc.client event type -> irc-client.receive type
EVENT_TYPES = {
    "pubmsg": "message",
    "privmsg": "message",
    "action": "action",
    "pubnotice": "notice",
    "privnotice": "notice",
    "join": "join",
    "part": "part",
    "quit": "quit",
    "kick": "kick",
    "nick": "nick",
    "topic": "topic",
}


def _arg(event: Any, index: int) -> str:
    args = event.arguments or []
    return str(args[index]) if len(args) > index and args[index] is not None else ""


def receive_fields(event: Any) -> dict[str, Any] | None:
    """``type``, ``user``, ``user_host``, ``channel``, ``body`` (+ ``target`` for a kick),
    or None when the event is not one a consumer is told about."""
    kind = EVENT_TYPES.get(event.type)
    source = event.source
    if kind is None or source is None or source.userhost is None:
        return None
    fields: dict[str, Any] = {
        "type": kind,
        "user": source.nick,
        "user_host": source.userhost,
        "channel": event.target,
        "body": _arg(event, 0),
    }
    if kind in ("quit", "nick"):
        fields["channel"] = None  # network-wide: no one channel
    if kind == "nick":
        fields["body"] = event.target
    elif kind == "kick":
        fields["target"] = _arg(event, 0)
        fields["body"] = _arg(event, 1)
    elif kind == "join":
        fields["body"] = ""
    return fields
