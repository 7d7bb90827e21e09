"""Writing HTTP/1.1 responses: status lines, checked headers, framing, stock answers.

A consumer's reply is untrusted input for the wire: a header name that is not a token,
or a value with CR, LF or NUL, would let it split the response. Such replies are
refused (:class:`BadResponse`) and never written.
"""

from __future__ import annotations

import re
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(rb"[\r\n\x00]")
#: Framing is ours to decide: these consumer headers are dropped (connection: close is
#: honoured separately).
FRAMING = frozenset((b"transfer-encoding", b"connection", b"keep-alive"))
NO_BODY_STATUS = frozenset((204, 304))

_status_lines: dict[tuple[int, bytes], bytes] = {}
#: Header pairs found valid (as bytes), by what the consumer gave: most replies repeat
#: the same few headers, checked once per process.
_checked: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}
_CHECKED_KEPT = 4096
_CHECKED_LONGEST = 256
_date: list[Any] = [0, b""]


class BadResponse(ValueError):
    """A consumer's reply cannot be written as HTTP."""


def status_line(status: int, version: bytes = b"1.1") -> bytes:
    line = _status_lines.get((status, version))
    if line is None:
        try:
            phrase = HTTPStatus(status).phrase.encode()
        except ValueError:
            phrase = b""
        line = b"HTTP/%s %d %s\r\n" % (version, status, phrase)
        _status_lines[(status, version)] = line
    return line


def date_header() -> bytes:
    """``date: ...`` for this second, formatted once per second."""
    now = int(time.time())
    if _date[0] != now:
        _date[0] = now
        _date[1] = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
    date: bytes = _date[1]
    return date


def check_status(status: Any) -> int:
    if type(status) is not int or not 100 <= status <= 999 or 100 <= status < 200:
        raise BadResponse(f"status must be an int from 200 to 999, got {status!r}")
    return status


def check_headers(headers: Any) -> list[tuple[bytes, bytes]]:
    """Validate a consumer's header list; returns (lower-case name, value) pairs."""
    if headers is None:
        return []
    if not isinstance(headers, list | tuple):
        raise BadResponse(f"headers must be a list of [name, value] pairs, got {headers!r}")
    checked = []
    known = _checked
    for pair in headers:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise BadResponse(f"header {pair!r} is not a [name, value] pair") from None
        found = known.get((name, value)) if type(name) is type(value) is bytes else None
        checked.append(found or _check_pair(name, value))
    return checked


def _check_pair(name: Any, value: Any) -> tuple[bytes, bytes]:
    name, value = _as_bytes(name, "name"), _as_bytes(value, "value")
    if not _TOKEN.match(name):
        raise BadResponse(f"header name {name!r} is not a valid token")
    if _BAD_VALUE.search(value):
        raise BadResponse(f"header {name!r} has CR, LF or NUL in its value {value!r}")
    checked = (name.lower(), value)
    if len(value) <= _CHECKED_LONGEST and len(_checked) < _CHECKED_KEPT:
        _checked[(name, value)] = checked
    return checked


def _as_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise BadResponse(f"header {what} {value!r} is not latin-1") from None
    raise BadResponse(f"header {what} must be bytes, got {value!r}")


def check_content(content: Any) -> bytes:
    if content is None:
        return b""
    if isinstance(content, bytes):
        return content
    if isinstance(content, bytearray | memoryview):
        return bytes(content)
    raise BadResponse(f"content must be bytes, got {type(content).__name__}")


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (empty data gives nothing: the end is separate)."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


LAST_CHUNK = b"0\r\n\r\n"


def simple_response(
    status: int,
    text: str | None = None,
    extra: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    close: bool = False,
    head: bool = False,
) -> bytes:
    """A complete plain-text answer the server makes itself (404, 503, 400, ...)."""
    body = ((text or HTTPStatus(status).phrase) + "\n").encode()
    lines = [
        status_line(status),
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(body),
        date_header(),
    ]
    lines.extend(b"%s: %s\r\n" % pair for pair in extra)
    if close:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    if not head:
        lines.append(body)
    return b"".join(lines)
