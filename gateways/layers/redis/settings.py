"""Reading a Redis layer URL: its servers (shards), connection options and layer settings.

One URL names every shard, hosts separated by commas; credentials, database, TLS and
query apply to all of them::

    redis://:secret@10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379/0?capacity=200
    rediss://cache.example.net:6380/2?ssl_ca_certs=/etc/ssl/redis-ca.pem
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from gateways.layers.base import BaseChannelLayer
from gateways.layers.url import layer_options_from_query

DEFAULT_PORT = 6379


@dataclass(frozen=True)
class ShardAddress:
    url: str  # a single-server URL redis-py understands (with credentials and TLS query)
    name: str  # host:port/db, without credentials: the shard's place on the hash ring


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
}

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


def _host_port(item: str, url: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":") if not item.endswith("]") else (item, "", "")
    if not host:  # no port given
        host, port = item, ""
    try:
        number = int(port) if port else DEFAULT_PORT
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


def parse_layer_url(url: str) -> tuple[list[ShardAddress], dict[str, Any]]:
    """The shards a URL names, and the keyword options its query carries."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    database = _database(parts.path, url)
    options = layer_options_from_query(parts.query)
    connection = {k: options.pop(k) for k in list(options) if k in CONNECTION_SETTINGS}
    _check_files(connection)
    query = f"?{urlencode(connection)}" if connection else ""
    credentials = f"{userinfo}@" if userinfo else ""
    shards = []
    for item in (hosts or "localhost").split(","):
        host, port = _host_port(item.strip(), url)
        name = f"{host}:{port}/{database}"
        shards.append(ShardAddress(f"{parts.scheme}://{credentials}{name}{query}", name))
    if len({s.name for s in shards}) != len(shards):
        raise ValueError(f"{url!r} names the same server twice")
    return shards, options


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
