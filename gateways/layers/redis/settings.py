"""Reading a Redis layer URL: its servers, connection options and layer settings.

One URL names every server, hosts separated by commas; credentials, database, TLS and
query apply to all of them. Three shapes::

    redis://:secret@10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379/0?capacity=200   (shards)
    rediss://cache.example.net:6380/2?ssl_ca_certs=/etc/ssl/redis-ca.pem
    redis+sentinel://:secret@s1:26379,s2:26379,s3:26379/mymaster/0   (Sentinel)
    redis+cluster://:secret@n1:6379,n2:6379,n3:6379/0                (Redis Cluster)

``redis+sentinel`` lists Sentinels (port 26379 by default), then the service (master)
name and the database; credentials and TLS settings are the data servers',
``sentinel_username`` / ``sentinel_password`` the Sentinels' own (the form of the
Redis-Sentinel-Url package, Prefect and RedisVL). ``redis+cluster`` lists some nodes of
the cluster (the others are discovered); a cluster has database 0 only.
``rediss+sentinel`` and ``rediss+cluster`` use TLS for every connection.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from redis.asyncio.connection import parse_url

from gateways.layers.base import BaseChannelLayer
from gateways.layers.url import layer_options_from_query

DEFAULT_PORT = 6379
SENTINEL_PORT = 26379

Host = tuple[str, int]


@dataclass(frozen=True)
class ShardAddress:
    url: str  # a single-server URL redis-py understands (with credentials and TLS query)
    name: str  # host:port/db, without credentials: the shard's place on the hash ring


@dataclass(frozen=True)
class SentinelAddress:
    """A primary that Sentinels name; ``url`` is its single-server URL with a stand-in
    host (credentials, database and TLS), ``sentinel_options`` redis-py's keyword
    arguments for the Sentinels' connections."""

    sentinels: tuple[Host, ...]
    service: str
    url: str
    name: str  # service/db
    sentinel_options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class ClusterAddress:
    """Some nodes of a Redis Cluster; ``node_url`` gives any node's single-server URL."""

    nodes: tuple[Host, ...]
    scheme: str  # redis or rediss
    credentials: str  # "user:password@" or ""
    query: str  # the connection settings, "?..." or ""

    def node_url(self, host: str, port: int) -> str:
        return f"{self.scheme}://{self.credentials}{_join(host, port)}/0{self.query}"


Address = list[ShardAddress] | SentinelAddress | ClusterAddress


def _floats(value: Any) -> float:
    return float(value)


def _keys(value: Any) -> tuple[str, ...]:
    """Encryption keys: a list (config file) or a comma-separated str (URL)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item) for item in items if str(item))


#: Settings of the Redis layer itself (beyond the generic ones in gateways.layers.url).
LAYER_SETTINGS: dict[str, Callable[[Any], Any]] = {
    "prefix": str,
    "visibility_timeout": _floats,
    "durable_expiry": _floats,
    "durable_poll": _floats,
    "batch": int,
    "max_connections": int,
    "socket_timeout": _floats,
    "socket_connect_timeout": _floats,
    "encryption_keys": _keys,
    "durable_replicas": int,
}

#: Settings of the Sentinels' own connections (``redis+sentinel`` URLs only).
SENTINEL_SETTINGS = {"sentinel_username", "sentinel_password"}

#: Connection settings read by redis-py as in its own URLs (TLS files, client name).
CONNECTION_SETTINGS = {
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_check_hostname",
    "ssl_min_version",
    "ssl_ciphers",
    "client_name",
}


def _join(host: str, port: int) -> str:
    return f"{host}:{port}"


def _host_port(item: str, url: str, default: int = DEFAULT_PORT) -> Host:
    host, _, port = item.rpartition(":") if not item.endswith("]") else (item, "", "")
    if not host:  # no port given
        host, port = item, ""
    try:
        number = int(port) if port else default
    except ValueError:
        raise ValueError(f"bad port in {item!r} of {url!r}") from None
    if not host or not 0 < number < 65536:
        raise ValueError(f"bad host:port {item!r} in {url!r}")
    return host, number


def _database(path: str, url: str) -> int:
    text = path.strip("/")
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"the path of {url!r} must be a database number, got {path!r}")
    return int(text)


#: Connection settings naming a file or folder that must be there.
PATH_SETTINGS = ("ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile")


def _check_files(connection: Mapping[str, Any]) -> None:
    """A missing certificate file is a settings mistake, not an outage to wait out."""
    for key in PATH_SETTINGS:
        path = connection.get(key)
        if isinstance(path, str) and not os.path.exists(path):
            raise ValueError(f"{key}: no such file {path!r}")


def with_query(url: str, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Connection and Sentinel settings given beside the URL (a config file's ``[layer]``
    table) join its query, where they are read; the rest stay layer settings."""
    own = CONNECTION_SETTINGS | SENTINEL_SETTINGS
    extra = {key: value for key, value in options.items() if key in own}
    if not extra:
        return url, dict(options)
    rest = {key: value for key, value in options.items() if key not in own}
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(extra)]))
    return parts._replace(query=query).geturl(), rest


def parse_layer_url(url: str) -> tuple[Address, dict[str, Any]]:
    """The servers a URL names, and the keyword options its query carries."""
    parts = urlsplit(url)
    base, _, kind = parts.scheme.lower().partition("+")
    if base not in ("redis", "rediss") or kind not in ("", "sentinel", "cluster"):
        raise ValueError(f"not a Redis layer URL: {url!r}")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    credentials = f"{userinfo}@" if userinfo else ""
    options = layer_options_from_query(parts.query)
    connection = {k: options.pop(k) for k in list(options) if k in CONNECTION_SETTINGS}
    _check_files(connection)
    query = f"?{urlencode(connection)}" if connection else ""
    default = SENTINEL_PORT if kind == "sentinel" else DEFAULT_PORT
    servers = [_host_port(item.strip(), url, default) for item in (hosts or "localhost").split(",")]
    if len(set(servers)) != len(servers):
        raise ValueError(f"{url!r} names the same server twice")
    if kind == "sentinel":
        sentinel = {k: options.pop(k) for k in list(options) if k in SENTINEL_SETTINGS}
        return _sentinel(url, base, servers, parts.path, credentials, query, sentinel), options
    database = _database(parts.path, url)
    if kind == "cluster":
        if database:
            raise ValueError(f"a Redis Cluster has database 0 only, {url!r} asks for {database}")
        return ClusterAddress(tuple(servers), base, credentials, query), options
    shards = []
    for host, port in servers:
        name = f"{_join(host, port)}/{database}"
        shards.append(ShardAddress(f"{base}://{credentials}{name}{query}", name))
    return shards, options


def _sentinel(
    url: str,
    base: str,
    sentinels: list[Host],
    path: str,
    credentials: str,
    query: str,
    own: dict[str, Any],
) -> SentinelAddress:
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ValueError(f"{url!r} names no service: redis+sentinel://HOST[:PORT],.../SERVICE[/DB]")
    database = _database(db, url)
    name = f"{service}/{database}"
    options: dict[str, Any] = {
        key.removeprefix("sentinel_"): value for key, value in own.items() if value
    }
    if base == "rediss":  # the Sentinels use TLS too, with the same files
        typed = parse_url(f"rediss://localhost/0{query}")
        options.update({k: v for k, v in typed.items() if k.startswith("ssl_")}, ssl=True)
    primary = f"{base}://{credentials}localhost:{DEFAULT_PORT}/{database}{query}"
    return SentinelAddress(tuple(sentinels), service, primary, name, tuple(options.items()))


def convert_settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """Type the Redis layer's own settings (URL values arrive as str); refuse unknown ones."""
    generic = inspect.signature(BaseChannelLayer.__init__).parameters
    known = set(LAYER_SETTINGS) | {name for name in generic if name != "self"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"unknown redis layer setting(s) {', '.join(unknown)} (known: "
            f"{', '.join(sorted(known | CONNECTION_SETTINGS))})"
        )
    converted = dict(options)
    for key, convert in LAYER_SETTINGS.items():
        if key in converted:
            try:
                converted[key] = convert(converted[key])
            except (TypeError, ValueError):
                raise ValueError(
                    f"redis layer setting {key}: bad value {converted[key]!r}"
                ) from None
    return converted
