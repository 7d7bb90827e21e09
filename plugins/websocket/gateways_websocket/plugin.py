"""gateways plugin ``websocket``: WebSockets on the HTTP plugin's port.

The http plugin declares ``gateways_http_upgrade``; this plugin implements it and takes
over ``Upgrade: websocket`` requests. See docs/websocket.md for messages and options.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gateways.plugin import (
    ChannelSpec,
    Host,
    Interface,
    Message,
    Option,
    Settings,
    hookimpl,
)
from gateways_websocket import options
from gateways_websocket._types import (
    WebSocketConnect,
    WebSocketDisconnect,
    WebSocketReceive,
    WebSocketReply,
)

if TYPE_CHECKING:
    from gateways_http.upgrade import UpgradeRequest

    from gateways_websocket.protocol import WebSocketProtocol


#: The channels one socket's events are numbered across (in order, per socket).
FAMILY = "websocket"


@hookimpl
def gateways_options() -> Sequence[Option]:
    return options.WsOptions.declare()


@hookimpl
def gateways_configure(settings: Settings) -> None:
    options.check(settings)


@hookimpl
def gateways_channels() -> Sequence[ChannelSpec]:
    return [
        ChannelSpec(
            "websocket.connect",
            "produces",
            WebSocketConnect,
            "a client asks to open",
            ordered=FAMILY,
        ),
        ChannelSpec(
            "websocket.receive",
            "produces",
            WebSocketReceive,
            "one frame from a client",
            ordered=FAMILY,
        ),
        ChannelSpec(
            "websocket.disconnect",
            "produces",
            WebSocketDisconnect,
            "a socket closed",
            notice=True,
            ordered=FAMILY,
        ),
        ChannelSpec(
            "websocket.send.*",
            "consumes",
            WebSocketReply,
            "replies on each socket's reply_channel: accept, text/bytes, close",
        ),
    ]


@hookimpl
def gateways_interfaces(host: Host) -> Sequence[Interface]:
    from gateways_websocket.server import WebSocketServer  # autobahn only where it serves

    return [WebSocketServer(host)]


@hookimpl
def gateways_http_upgrade(host: Host, request: UpgradeRequest) -> WebSocketProtocol | None:
    """Take over ``Upgrade: websocket`` when this process serves the websocket plugin."""
    if request.upgrade != "websocket":
        return None
    from gateways_websocket.server import WebSocketServer

    server = host.interface("websocket")
    if not isinstance(server, WebSocketServer):
        return None  # --plugin websocket not chosen: HTTP answers the request itself
    return server.build(request)


@hookimpl
async def gateways_consumer_failed(message: Message, error: BaseException) -> None:
    """In the worker: a consumer of ``websocket.connect`` or ``websocket.receive`` raised;
    close its socket with 1011 (a handshake still pending is refused with 500). The
    socket of a failed ``websocket.disconnect`` is closed already."""
    if message.channel == "websocket.disconnect":
        return
    reply_channel = message.reply_channel
    if isinstance(reply_channel, str) and reply_channel:
        await message.layer.send(reply_channel, {"close": 1011})


@hookimpl
async def gateways_unrouted(message: Message) -> None:
    """In the worker: no route takes this ``websocket.connect`` path; refuse it with 404
    at once, as HTTP does, instead of leaving the client to time out."""
    if message.channel == "websocket.connect" and isinstance(message.reply_channel, str):
        await message.layer.send(message.reply_channel, {"accept": False, "status": 404})
