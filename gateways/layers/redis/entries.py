"""The bytes of one queued message, as the Lua scripts lay them out (see scripts.py).

An entry may leave its channel out: it is then the channel whose list holds it. A
group_send to plain channels pushes that one entry to every member's list instead of
building an entry per member (that string building cost the server about as much as
the pushes themselves).
"""

from __future__ import annotations

from typing import NamedTuple

HEAD = 15  # width of the expiry timestamp in milliseconds


class Entry(NamedTuple):
    channel: str
    delivery_id: str
    data: bytes


def tail(channel: str, data: bytes, delivery_id: str = "") -> bytes:
    """What a sender passes to the send script, which prepends the expiry."""
    return b"%s\0%s\0%s" % (channel.encode("ascii"), delivery_id.encode("ascii"), data)


def stamped(expires_ms: int, channel: str, data: bytes) -> bytes:
    """A whole entry, for a send that pushes it itself (no script; no delivery id)."""
    return b"%015d%s\0\0%s" % (expires_ms, channel.encode("ascii"), data)


def parse(raw: bytes, channel: str) -> Entry:
    """``raw``, taken from ``channel``'s list (its name, for an entry that leaves it out;
    a process inbox's entries always name theirs)."""
    head, delivery_id, data = raw.split(b"\0", 2)
    named = head[HEAD:].decode("ascii") if len(head) > HEAD else channel
    return Entry(named, delivery_id.decode("ascii"), data)


def parse_plain(raw: bytes, channel: str) -> tuple[str, bytes]:
    """:func:`parse` for the hot path of a plain channel, which has no delivery id: its
    channel and data."""
    head, _, data = raw.split(b"\0", 2)
    return (head[HEAD:].decode("ascii") if len(head) > HEAD else channel), data
