"""Checks on an upgrade request before it becomes ``websocket.connect``.

Autobahn validates the WebSocket handshake itself (key, version, Upgrade/Connection);
what is checked here is policy: which origins may open sockets, and which header values
may reach consumers at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from gateways_websocket._types import Headers

#: Control characters other than horizontal tab. A header value carrying one (CR, LF,
#: NUL, ESC, ...) is refused outright rather than passed on: consumers copy header
#: values into logs, responses and other protocols (the class of Daphne's
#: CVE-2026-44546).
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def header_problem(headers: Headers) -> str | None:
    """Why these headers cannot be passed on, or None when they can."""
    for name, value in headers:
        if _CONTROL.search(value):
            return f"header {name.decode('latin-1')} contains control characters"
    return None


def header_values(headers: Headers, name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name]


def subprotocols(headers: Headers) -> list[str]:
    """The subprotocols offered in every ``Sec-WebSocket-Protocol`` header, in order."""
    offered: list[str] = []
    for value in header_values(headers, b"sec-websocket-protocol"):
        offered.extend(p.strip() for p in value.decode("latin-1").split(",") if p.strip())
    return offered


def _host_port(netloc: str, scheme: str) -> tuple[str, int | None] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port or _DEFAULT_PORTS.get(scheme)


def same_host(origin: str, host_header: bytes | None, scheme: str) -> bool:
    """True when ``origin`` names the host (and port) the request was sent to."""
    if host_header is None:
        return False
    parts = urlsplit(origin)
    mine = _host_port(host_header.decode("latin-1"), scheme)
    theirs = _host_port(parts.netloc, parts.scheme.lower())
    return mine is not None and mine == theirs


def _matches(origin: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if "://" in pattern:  # a full origin: scheme, host pattern and (default) port
        return fnmatchcase(_normal(origin), _normal(pattern))
    parts = urlsplit(origin)  # a host pattern, with or without a port
    host = (parts.hostname or "").lower()
    with_port = f"{host}:{parts.port}" if parts.port else host
    return fnmatchcase(host, pattern) or fnmatchcase(with_port, pattern)


def _normal(origin: str) -> str:
    """``scheme://host:port`` with the scheme's default port written out."""
    scheme, _, rest = origin.partition("://")
    if ":" not in rest.rsplit("]", 1)[-1] and scheme in _DEFAULT_PORTS:
        rest = f"{rest}:{_DEFAULT_PORTS[scheme]}"
    return f"{scheme}://{rest}"


def origin_allowed(headers: Headers, scheme: str, allowed: Sequence[str]) -> bool:
    """Browsers always send ``Origin``; a client without one is not a browser page, so
    cross-site request forgery does not apply and it is let through."""
    values = header_values(headers, b"origin")
    if not values:
        return True
    if len(values) > 1:
        return False
    origin = values[0].decode("latin-1").strip().lower().rstrip("/")
    if origin == "null":
        return "null" in allowed
    if not allowed:
        return same_host(origin, next(iter(header_values(headers, b"host")), None), scheme)
    return any(_matches(origin, pattern) for pattern in allowed if pattern != "null")
