"""``redis://`` and ``rediss://``: the channel layer for many processes and machines;
``redis+sentinel://`` behind Redis Sentinel, ``redis+cluster://`` on Redis Cluster
(``rediss+...`` with TLS).

redis-py is imported only when a Redis URL is used, so the core installs and runs
without the ``redis`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateways.hookspecs import hookimpl

if TYPE_CHECKING:
    from gateways.layers.redis.layer import RedisChannelLayer


def from_url(url: str, **options: Any) -> RedisChannelLayer:
    """``redis://[[user]:password@]host[:port][,host[:port]...][/db][?settings]``, or
    ``redis+sentinel://...host[:port],.../service[/db]``, ``redis+cluster://...`` (see
    settings.py)."""
    try:
        from gateways.layers.redis.layer import RedisChannelLayer
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ValueError(
            f"{url.split('://')[0]}:// needs redis-py: pip install 'gateways[redis]' ({exc})"
        ) from None
    from gateways.layers.redis.settings import convert_settings, parse_layer_url, with_query

    url, options = with_query(url, options)  # connection settings from a config file
    address, query = parse_layer_url(url)
    return RedisChannelLayer(address, **convert_settings({**query, **options}))


@hookimpl
def gateways_layer_backends() -> dict[str, Any]:
    return {
        f"{base}{kind}": from_url
        for base in ("redis", "rediss")
        for kind in ("", "+sentinel", "+cluster")
    }
