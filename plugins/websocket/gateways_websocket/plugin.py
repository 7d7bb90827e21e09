"""gateways plugin ``websocket``: WebSockets on the HTTP plugin's port.

The http plugin declares ``gateways_http_upgrade``; this plugin implements it and takes
over ``Upgrade: websocket`` requests. See docs/websocket.md for messages and options.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from typing import Any

from gateways import hookimpl
from gateways.config import Option, Settings
from gateways.plugins import ChannelSpec
from gateways_websocket import options
from gateways_websocket._types import (
    WebSocketConnect,
    WebSocketDisconnect,
    WebSocketReceive,
    WebSocketReply,
)

log = logging.getLogger("gateways.websocket")

#: The websocket interface of each running host (one per ``gateways serve`` process).
_servers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

INBOUND = ("websocket.connect", "websocket.receive", "websocket.disconnect")


@hookimpl
def gateways_options() -> Sequence[Option]:
    return options.options()


@hookimpl
def gateways_configure(settings: Settings) -> None:
    options.check(settings)


@hookimpl
def gateways_channels() -> Sequence[ChannelSpec]:
    return [
        ChannelSpec("websocket.connect", "produces", WebSocketConnect, "a client asks to open"),
        ChannelSpec("websocket.receive", "produces", WebSocketReceive, "one frame from a client"),
        ChannelSpec("websocket.disconnect", "produces", WebSocketDisconnect, "a socket closed"),
        ChannelSpec(
            "websocket.send.*",
            "consumes",
            WebSocketReply,
            "replies on each socket's reply_channel: accept, text/bytes, close",
        ),
    ]


@hookimpl
def gateways_interfaces(host: Any) -> Sequence[Any]:
    from gateways_websocket.server import WebSocketServer

    server = WebSocketServer(options.WsConfig.from_settings(host.settings), host.layer)
    _servers[host] = server
    return [server]


@hookimpl
def gateways_http_upgrade(host: Any, request: Any) -> Any:
    """Take over ``Upgrade: websocket`` when this process serves the websocket plugin."""
    if request.upgrade != "websocket":
        return None
    server = _servers.get(host)
    if server is None:
        return None  # --plugin websocket not chosen: HTTP answers the request itself
    return server.build(request)


@hookimpl
async def gateways_consumer_failed(message: Any, error: BaseException) -> None:
    """In the worker: a consumer of a websocket message raised; close its socket with 1011
    (a handshake still pending is refused with 500)."""
    if message.channel not in ("websocket.connect", "websocket.receive"):
        return
    reply_channel = message.reply_channel
    if isinstance(reply_channel, str) and reply_channel:
        await message.layer.send(reply_channel, {"close": 1011})


@hookimpl
async def gateways_unrouted(message: Any) -> None:
    """In the worker: no route takes this ``websocket.connect`` path; refuse it with 404
    at once, as HTTP does, instead of leaving the client to time out."""
    if message.channel == "websocket.connect" and isinstance(message.reply_channel, str):
        await message.layer.send(message.reply_channel, {"accept": False, "status": 404})
