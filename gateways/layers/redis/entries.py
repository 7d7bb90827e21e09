"""The bytes of one queued message, as the Lua scripts lay them out (see scripts.py)."""

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


def parse(raw: bytes) -> Entry:
    first = raw.index(b"\0", HEAD)
    second = raw.index(b"\0", first + 1)
    return Entry(
        raw[HEAD:first].decode("ascii"), raw[first + 1 : second].decode("ascii"), raw[second + 1 :]
    )
