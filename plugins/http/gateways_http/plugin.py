"""gateways plugin ``http``: the HTTP/1.1 and HTTP/2 interface (``http.request`` and its
replies).

Also the worker-side answers for HTTP: 404 when no route matches, 500 when a consumer
raises before replying. See docs/http.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import pluggy

from gateways.plugin import (
    ChannelSpec,
    Host,
    Interface,
    LayerUnavailable,
    Message,
    Option,
    Settings,
    hookimpl,
)
from gateways_http import hookspecs
from gateways_http._types import (
    HttpBodyChunk,
    HttpDisconnect,
    HttpRequest,
    HttpResponse,
)
from gateways_http.message import BODY_CHANNEL_PREFIX, DISCONNECT_CHANNEL
from gateways_http.message import REQUEST_CHANNEL as REQUEST
from gateways_http.options import HttpOptions, check

_TEXT = [[b"content-type", b"text/plain; charset=utf-8"]]
_UNAVAILABLE = b"Service Unavailable\n"


@hookimpl
def gateways_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@hookimpl
def gateways_options() -> Sequence[Option]:
    return HttpOptions.declare()


@hookimpl
def gateways_configure(settings: Settings) -> None:
    check(settings)


@hookimpl
def gateways_channels() -> Sequence[ChannelSpec]:
    return [
        ChannelSpec(REQUEST, "produces", HttpRequest, "one HTTP request (body or its start)"),
        ChannelSpec(
            BODY_CHANNEL_PREFIX + "*", "produces", HttpBodyChunk, "the rest of a large request body"
        ),
        ChannelSpec(
            DISCONNECT_CHANNEL,
            "produces",
            HttpDisconnect,
            "a client left before its response",
            notice=True,
        ),
        ChannelSpec(
            "http.response!",
            "consumes",
            HttpResponse,
            "replies on reply_channel: the response start, then HttpResponseChunk messages",
        ),
    ]


@hookimpl
def gateways_interfaces(host: Host) -> Sequence[Interface]:
    from gateways_http.interface import HttpInterface

    return [HttpInterface(host)]


# The worker calls these two only for channels this plugin produces. Of those, only
# http.request waits for an answer: http.disconnect and body chunks have no one to tell.


@hookimpl
async def gateways_unrouted(message: Message) -> None:
    if message.channel == REQUEST and message.reply_channel:
        await message.reply({"status": 404, "headers": _TEXT, "content": b"Not Found\n"})


@hookimpl
async def gateways_consumer_failed(message: Message, error: BaseException) -> None:
    if message.channel != REQUEST or not message.reply_channel:
        return
    if not message.replied:
        if isinstance(error, LayerUnavailable):  # its reply could not go out: an outage
            await message.reply({"status": 503, "headers": _TEXT, "content": _UNAVAILABLE})
            return
        await message.reply(
            {"status": 500, "headers": _TEXT, "content": b"Internal Server Error\n"}
        )
    else:
        # The response had begun: the client must see it end badly, not look complete.
        await message.layer.send(message.reply_channel, {"abort": True})
