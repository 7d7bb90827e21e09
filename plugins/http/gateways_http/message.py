"""What a parsed request becomes for the rest of the system: the ``http.request``
message (design section 7), the :class:`~gateways_http.upgrade.UpgradeRequest` another
plugin may take over, and ``http.disconnect``.

Both see a request the same way (:func:`scope`): proxy headers applied when trusted,
the root path stripped from the path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateways_http.proxy import resolve
from gateways_http.request import Address, strip_root
from gateways_http.upgrade import UpgradeRequest

if TYPE_CHECKING:
    from gateways_http.exchange import Exchange
    from gateways_http.options import HttpOptions

REQUEST_CHANNEL = "http.request"
DISCONNECT_CHANNEL = "http.disconnect"
BODY_CHANNEL_PREFIX = "http.request.body."


def scope(exchange: Exchange, options: HttpOptions) -> tuple[str, Address, str]:
    """Scheme, client and path as consumers see them (proxy headers, root path)."""
    conn = exchange.conn
    scheme, client = conn.scheme, conn.client
    if options.proxy_headers:
        scheme, client = resolve(exchange.headers, scheme, client, options.forwarded_allow_ips)
    return scheme, client, strip_root(exchange.path, options.http_root_path)


def request_message(
    exchange: Exchange, options: HttpOptions, body: bytes, body_channel: str | None
) -> dict[str, Any]:
    """``http.request`` for ``exchange``: its whole ``body``, or the first chunk of it
    when the rest follows on ``body_channel``."""
    scheme, client, path = scope(exchange, options)
    return {
        "reply_channel": exchange.reply_channel,
        "http_version": exchange.version,
        "method": exchange.method,
        "scheme": scheme,
        "path": path,
        "query_string": exchange.query_string,
        "root_path": options.http_root_path,
        "headers": exchange.headers,
        "body": body,
        "body_channel": body_channel,
        "client": client,
        "server": exchange.conn.local,
    }


def upgrade_request(
    exchange: Exchange, options: HttpOptions, token: str, raw: bytes
) -> UpgradeRequest:
    """What the ``gateways_http_upgrade`` hook is asked to take over."""
    scheme, client, path = scope(exchange, options)
    return UpgradeRequest(
        upgrade=token,
        method=exchange.method,
        path=path,
        raw_path=exchange.raw_path,
        query_string=exchange.query_string,
        root_path=options.http_root_path,
        headers=exchange.headers,
        scheme=scheme,
        client=client,
        server=exchange.conn.local,
        raw=raw,
    )


def disconnect_message(reply_channel: str, path: str) -> dict[str, Any]:
    """``http.disconnect``: the client left before its response was complete."""
    return {"reply_channel": reply_channel, "path": path}
