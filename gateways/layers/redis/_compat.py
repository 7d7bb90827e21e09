"""The one place the Redis layer leans on redis-py beyond its documented API.

The layer speaks RESP over its own pipelined connections, but lets redis-py read the
URL (every query option, TLS files and verification modes, credentials), build the
TLS context and name each error reply (``MOVED``, ``READONLY``, ``NOSCRIPT`` ...), so
those mean exactly what they mean to redis-py. That takes the attributes of an
unconnected ``Connection``, redis-py's ``RedisSSLContext.get()`` and its parsers'
``parse_error``; ``tests/redis/test_compat.py`` fails loudly when a redis-py release
moves them.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from redis._parsers.base import BaseParser
from redis.asyncio.connection import Connection, parse_url
from redis.exceptions import ReadOnlyError, ResponseError


@dataclass(frozen=True)
class UrlSettings:
    """What a single-server URL says, as redis-py reads it."""

    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    client_name: str | None
    tls: Any  # redis-py's RedisSSLContext, or None without TLS


def read_url(url: str) -> UrlSettings:
    params: dict[str, Any] = dict(parse_url(url))
    kind = params.pop("connection_class", Connection)
    template: Any = kind(**params)  # never connected: it only types the URL's settings
    return UrlSettings(
        host=template.host,
        port=int(template.port),
        db=int(template.db or 0),
        username=template.username,
        password=template.password,
        client_name=template.client_name,
        tls=getattr(template, "ssl_context", None),
    )


def tls_context(tls: Any) -> ssl.SSLContext | None:
    """The ``ssl.SSLContext`` redis-py would connect with (built on first use)."""
    if tls is None:
        return None
    context: ssl.SSLContext = tls.get()
    return context


def reply_error(text: str) -> ResponseError:
    """The redis-py exception for an error reply. ``UNBLOCKED ... (master -> replica?)``,
    which a blocked pop gets when its server is demoted, counts as ``READONLY``: the
    server no longer takes writes."""
    if text.startswith("UNBLOCKED") and "state changed" in text:
        return ReadOnlyError(text)
    error: ResponseError = BaseParser.parse_error(text)
    return error
