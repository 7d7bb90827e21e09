"""Turning a consumer's ``{channel, type, body}`` into safe IRC lines.

Nothing a consumer sends can become a second command: CR and LF become a space, NUL
and the CTCP delimiter are dropped, and a target with spaces or commas is refused. A
long body is cut into several lines, on UTF-8 character boundaries (at a space when
one is near), so that each line *as the server relays it* -- with the
``:nick!user@host`` prefix it adds -- fits the 512 bytes IRC allows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_LINE = 512  # bytes, CR LF included (RFC 1459 / 2812)
CHANNEL_PREFIXES = "#&+!"
REPLY_TYPES = ("message", "action", "notice", "join", "part")
_LINE_BREAKS = re.compile(r"[\r\n]+")
_BAD_TARGET = re.compile(r"[\s,\x00-\x1f]")


class OutgoingError(ValueError):
    """A reply or send that cannot become IRC lines; the message says why, ``field``
    names the key at fault (one warning a minute per field, however many come)."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


def clean(text: str) -> str:
    """Make ``text`` one harmless IRC parameter: no line breaks, NUL or CTCP marks."""
    return _LINE_BREAKS.sub(" ", text).replace("\0", "").replace("\x01", "")


def split_utf8(text: str, limit: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` UTF-8 bytes, never inside a
    character, preferring the last space in the second half of each piece."""
    if limit < 4:
        raise OutgoingError(f"no room for text in a line ({limit} bytes left)")
    data = text.encode("utf-8")
    pieces: list[bytes] = []
    while len(data) > limit:
        cut = limit
        while data[cut] & 0xC0 == 0x80:  # a continuation byte starts the rest: step back
            cut -= 1
        space = data.rfind(b" ", limit // 2, cut + 1)
        if space > 0:
            pieces.append(data[:space])
            data = data[space + 1 :]
        else:
            pieces.append(data[:cut])
            data = data[cut:]
    if data:
        pieces.append(data)
    return [p.decode("utf-8") for p in pieces]


def check_target(target: Any, *, channel_only: bool = False) -> str:
    if not isinstance(target, str) or not target:
        raise OutgoingError(f"'channel' must be a non-empty str, got {target!r}", "channel")
    if _BAD_TARGET.search(target) or target.startswith(":"):
        raise OutgoingError(
            f"'channel' {target!r} has spaces, commas or control characters", "channel"
        )
    if channel_only and target[0] not in CHANNEL_PREFIXES:
        raise OutgoingError(f"'channel' {target!r} is not a channel (#name)", "channel")
    return target


def is_target(target: str) -> bool:
    """Whether ``target`` can name a nick or channel in a line we send."""
    try:
        check_target(target)
    except OutgoingError:
        return False
    return True


def body_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    if not isinstance(body, str):
        raise OutgoingError(f"'body' must be a str, got {type(body).__name__}")
    return body


def lines_for(message: Mapping[str, Any], source_length: int) -> list[str]:
    """The raw lines (without CR LF) that carry out ``message``.

    ``source_length`` is the byte length of the ``:nick!user@host `` prefix the server
    puts in front of each line it relays.
    """
    kind = message.get("type", "message")
    if kind not in REPLY_TYPES:
        raise OutgoingError(f"'type' must be one of {', '.join(REPLY_TYPES)}; got {kind!r}", "type")
    target = check_target(message.get("channel"), channel_only=kind in ("join", "part"))
    body = clean(body_text(message.get("body"))).strip(" ")
    if kind == "join":
        key = body.split(" ")[0] if body else ""
        return [f"JOIN {target} {key}".rstrip()]
    if kind == "part":
        head = f"PART {target} :"
        room = MAX_LINE - 2 - source_length - len(head.encode())
        return [head + split_utf8(body, room)[0]] if body else [f"PART {target}"]
    if not body:
        raise OutgoingError(f"a {kind} needs a non-empty 'body'")
    command = "NOTICE" if kind == "notice" else "PRIVMSG"
    before, after = ("\x01ACTION ", "\x01") if kind == "action" else ("", "")
    head = f"{command} {target} :{before}"
    room = MAX_LINE - 2 - source_length - len(head.encode()) - len(after)
    return [head + piece + after for piece in split_utf8(body, room)]


def join_lines(channels: list[str], limit: int = MAX_LINE - 2) -> list[str]:
    """``JOIN #a,#b key`` lines for many channels (``#chan key`` entries carry keys)."""
    keyed = sorted(channels, key=lambda c: " " not in c)  # keyed ones first, as IRC needs
    lines: list[str] = []
    names: list[str] = []
    keys: list[str] = []
    for entry in keyed:
        name, _, key = entry.partition(" ")
        line = _join([*names, name], [*keys, key] if key else keys)
        if names and len(line.encode()) > limit:
            lines.append(_join(names, keys))
            names, keys = [], []
        names.append(name)
        if key:
            keys.append(key)
    if names:
        lines.append(_join(names, keys))
    return lines


def _join(names: list[str], keys: list[str]) -> str:
    return f"JOIN {','.join(names)} {','.join(keys)}".rstrip()
