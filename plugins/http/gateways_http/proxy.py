"""Who the client is behind trusted proxies (``--proxy-headers``, ``--forwarded-allow-ips``).

A proxy appends the address it received a request from to ``X-Forwarded-For`` (or
adds a ``for=`` element to RFC 7239 ``Forwarded``), so the list reads client, proxy,
proxy... and only its right end was written by machines we trust. The client is the
right-most address that is not one of our proxies; anything left of it may be made
up by the client. Headers are read only when the peer itself is a trusted proxy, as
uvicorn and gunicorn do; ``Forwarded`` wins over the ``X-Forwarded-*`` headers when
both are there.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateways_http.request import Address, Headers

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
#: One ``key=value`` pair of a ``Forwarded`` element; values may be quoted strings.
_PAIR = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)=("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*')
#: The name a peer on a Unix socket (no address) is trusted by.
UNIX = "unix"


@dataclass(frozen=True)
class TrustedProxies:
    """The peers whose forwarding headers are believed: networks, ``unix``, or all."""

    networks: tuple[IPNetwork, ...] = ()
    unix: bool = False
    everyone: bool = False
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """``"127.0.0.1, 10.0.0.0/8, ::1, unix"``, or ``"*"`` for any peer."""
        items = [item.strip() for item in text.split(",") if item.strip()]
        if "*" in items:
            return cls(everyone=True, text="*")
        networks: list[IPNetwork] = []
        for item in items:
            if item == UNIX:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network (expected e.g. "
                    "127.0.0.1, 10.0.0.0/8, ::1, unix or *)"
                ) from None
        return cls(tuple(networks), unix=UNIX in items, text=", ".join(items))

    def trusts(self, host: str | None) -> bool:
        if self.everyone:
            return True
        if host is None or host == "":
            return self.unix
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # a name or garbage: never one of ours
        return any(address in network for network in self.networks)


def forwarded_allow_ips(text: str) -> TrustedProxies:
    """The converter of ``--forwarded-allow-ips``."""
    return TrustedProxies.parse(text)


def _values(headers: Headers, name: bytes) -> list[str]:
    """Every comma-separated value of every ``name`` header, in order."""
    found: list[str] = []
    for key, value in headers:
        if key == name:
            found += [part.strip() for part in value.decode("latin-1").split(",")]
    return [part for part in found if part]


def _elements(headers: Headers) -> list[dict[str, str]]:
    """The elements of RFC 7239 ``Forwarded`` headers, keys lower-cased, quotes removed."""
    elements: list[dict[str, str]] = []
    for key, value in headers:
        if key != b"forwarded":
            continue
        for element in _split_elements(value.decode("latin-1")):
            pairs = {}
            for pair in element.split(";"):
                found = _PAIR.fullmatch(pair)
                if found:
                    raw = found.group(2)
                    if raw.startswith('"'):
                        raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                    pairs[found.group(1).lower()] = raw
            elements.append(pairs)
    return elements


def _split_elements(value: str) -> list[str]:
    """Split on commas outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _node(value: str) -> tuple[str | None, int]:
    """A ``for=`` node or an ``X-Forwarded-For`` entry as (host, port); host None when
    hidden (``unknown``, ``_obfuscated``)."""
    if value.startswith("["):  # [2001:db8::1]:4711
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    else:
        host, port = value, ""
    if host.lower() == "unknown" or host.startswith("_"):
        return None, 0
    return host, int(port) if port.isdigit() else 0


def _client(chain: Sequence[str], trusted: TrustedProxies) -> tuple[str | None, int] | None:
    """The right-most hop not one of our proxies (the left-most if all are)."""
    nodes = [_node(value) for value in chain]
    for host, port in reversed(nodes):
        if not trusted.trusts(host) or host is None:
            return host, port
    return nodes[0] if nodes else None


def resolve(
    headers: Headers, scheme: str, client: Address, trusted: TrustedProxies
) -> tuple[str, Address]:
    """Scheme and client as the proxies say, when the peer is one of them."""
    peer = str(client[0]) if client else None
    if not trusted.trusts(peer):
        return scheme, client
    elements = _elements(headers)
    if elements:
        chain = [e["for"] for e in elements if "for" in e]
        protos = [e["proto"] for e in elements if "proto" in e]
    else:
        chain = _values(headers, b"x-forwarded-for")
        protos = _values(headers, b"x-forwarded-proto")
    found = _client(chain, trusted)
    if found is not None:
        host, port = found
        if not elements and port == 0:
            port = _forwarded_port(headers)
        client = [host, port] if host is not None else None
    if protos:
        scheme = _SCHEMES.get(protos[-1].lower(), scheme)  # the nearest proxy's word
    return scheme, client


def _forwarded_port(headers: Headers) -> int:
    ports = _values(headers, b"x-forwarded-port")
    return int(ports[-1]) if ports and ports[-1].isdigit() else 0
