"""Turning parsed request parts into the fields of ``http.request`` (and of an upgrade).

Shared by the Twisted protocol and the WSGI bridge, so both decode paths, filter
headers and apply proxy headers the same way. Nothing here knows a connection.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

Headers = list[list[bytes]]
Address = list[str | int] | None

#: RFC 9110 token characters, minus "_": a header named ``x_forwarded_for`` would be
#: indistinguishable from ``x-forwarded-for`` once a WSGI bridge turns both into
#: ``HTTP_X_FORWARDED_FOR``, so such headers never reach consumers (as in nginx).
_PASSABLE_NAME = re.compile(rb"^[!#$%&'*+\-.^`|~0-9a-z]+$")
#: Header names seen so far: the lower-case name, or None for a name never passed on.
_header_names: dict[bytes, bytes | None] = {}
_HEADER_NAMES_KEPT = 4096


class Refused(Exception):
    """A request the server refuses before it reaches the application."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


#: ``%`` as the int a bytes search takes: ``b"%" in path`` first tries its operand as an
#: int, raising and clearing a TypeError each time (about 1% of a hello request).
_PERCENT = ord("%")


def decode_path(raw_path: bytes) -> str:
    """Percent-decode a request path as UTF-8 (invalid sequences become U+FFFD)."""
    if _PERCENT not in raw_path:
        return raw_path.decode("latin-1")  # what unquote() returns for it
    return unquote(raw_path.decode("latin-1"), encoding="utf-8", errors="replace")


def strip_root(path: str, root_path: str) -> str:
    """The path below ``root_path`` when the request is under it, else unchanged."""
    if root_path and (path == root_path or path.startswith(root_path + "/")):
        return path[len(root_path) :] or "/"
    return path


def filter_headers(raw: list[tuple[bytes, bytes]]) -> Headers:
    """Lower-case names; drop names with ``_`` (or anything outside a token)."""
    headers: Headers = []
    for name, value in raw:
        lowered = name.lower()
        if _PASSABLE_NAME.match(lowered):
            headers.append([lowered, value])
    return headers


def pass_headers(raw: list[tuple[bytes, bytes]]) -> Headers:
    """:func:`filter_headers` for the hot path: each name is checked once per process."""
    headers: Headers = []
    names = _header_names
    for name, value in raw:
        lowered = names.get(name, b"")
        if lowered == b"":
            lowered = _passable(name)
        if lowered is not None:
            headers.append([lowered, value])
    return headers


def _passable(name: bytes) -> bytes | None:
    found = filter_headers([(name, b"")])
    lowered = found[0][0] if found else None
    if len(_header_names) < _HEADER_NAMES_KEPT:
        _header_names[name] = lowered
    return lowered


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """The raw path and query string of a request target (origin or absolute form)."""
    if target[:1] == b"/":
        raw_path, _, query = target.partition(b"?")
        return raw_path, query
    import httptools

    try:
        parsed = httptools.parse_url(target)
    except httptools.HttpParserInvalidURLError:
        raise Refused(400, "invalid request target") from None
    return parsed.path or b"/", parsed.query or b""


def check_head(version: str, headers: Headers) -> None:
    """Refuse what llhttp lets through and RFC 9112 does not: a request line with no
    HTTP version (llhttp reads it as HTTP/0.9: 3), an HTTP/1.1 request without exactly
    one ``Host`` (3.2), and transfer codings other than one ``chunked`` (a coding the
    server cannot undo leaves the body undecodable, 6.1)."""
    if version == "0.9":
        raise Refused(400, "a request line needs an HTTP version")
    hosts = 0
    codings: list[bytes] = []
    for name, value in headers:
        if name == b"host":
            hosts += 1
        elif name == b"transfer-encoding":
            codings += [coding.strip().lower() for coding in value.split(b",")]
    if hosts > 1 or (hosts == 0 and version == "1.1"):
        raise Refused(400, "an HTTP/1.1 request needs exactly one Host header")
    if codings and codings != [b"chunked"]:
        if any(coding != b"chunked" for coding in codings):
            raise Refused(501, "transfer codings other than chunked are not supported")
        raise Refused(400, "chunked applied more than once")


def header_value(headers: Headers, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case), or None."""
    for key, value in headers:
        if key == name:
            return value
    return None
