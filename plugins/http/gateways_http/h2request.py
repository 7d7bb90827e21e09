"""An HTTP/2 request head (h2's decoded header list) as the parts of an exchange, with
the limits HTTP/1.1 requests get (431, 414, 413, 405 for CONNECT).

h2 has already checked the pseudo-headers (present, first, allowed) and joined split
``cookie`` fields; what is left is the server's own policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gateways_http.request import Refused

if TYPE_CHECKING:
    from gateways_http.options import HttpOptions

Head = tuple[str, bytes, list[tuple[bytes, bytes]]]

_METHOD = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
#: What RFC 9113 (6.5.2) counts per field of a header list, beyond name and value.
FIELD_OVERHEAD = 32


def read_head(headers: Iterable[tuple[bytes, bytes]], options: HttpOptions) -> Head:
    """The method, target and regular headers of a request; ``:authority`` becomes a
    ``host`` header when there is none, as consumers of HTTP/1.1 expect."""
    method = target = authority = None
    regular: list[tuple[bytes, bytes]] = []
    size = 0
    for name, value in headers:
        size += len(name) + len(value) + FIELD_OVERHEAD
        if name[:1] != b":":
            regular.append((name, value))
        elif name == b":method":
            method = value
        elif name == b":path":
            target = value
        elif name == b":authority":
            authority = value
    if size > options.http_max_headers or len(regular) > options.http_max_header_count:
        raise Refused(431, "request headers too large")
    if method == b"CONNECT":
        raise Refused(405, "CONNECT is not supported")
    if method is None or target is None or not _METHOD.match(method):
        raise Refused(400, "malformed request")
    if len(target) > options.http_max_request_line:
        raise Refused(414, "request target too long")
    if authority is not None and not any(name == b"host" for name, _ in regular):
        regular.insert(0, (b"host", authority))
    return method.decode("ascii"), target, regular


def check_length(headers: list[list[bytes]], limit: int) -> None:
    """Refuse at once a declared body over --http-max-body (before it is sent)."""
    for name, value in headers:
        if name == b"content-length" and limit and value.isdigit() and int(value) > limit:
            raise Refused(413, f"request body larger than {limit} bytes")
