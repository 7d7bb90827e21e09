"""gateways plugin ``http``: the HTTP/1.1 interface (``http.request`` and its replies).

Also the worker-side answers for HTTP: 404 when no route matches, 500 when a consumer
raises before replying. See docs/http.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pluggy

from gateways import hookimpl
from gateways.config import Option, Settings
from gateways.message import Message
from gateways.plugins import ChannelSpec
from gateways_http import hookspecs, options
from gateways_http._types import (
    HttpBodyChunk,
    HttpDisconnect,
    HttpRequest,
    HttpResponse,
)

log = logging.getLogger("gateways.http")

REQUEST = "http.request"
_TEXT = [[b"content-type", b"text/plain; charset=utf-8"]]


@hookimpl
def gateways_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@hookimpl
def gateways_options() -> Sequence[Option]:
    return options.options()


@hookimpl
def gateways_configure(settings: Settings) -> None:
    options.check(settings)


@hookimpl
def gateways_channels() -> Sequence[ChannelSpec]:
    return [
        ChannelSpec(REQUEST, "produces", HttpRequest, "one HTTP request (body or its start)"),
        ChannelSpec(
            "http.request.body.*", "produces", HttpBodyChunk, "the rest of a large request body"
        ),
        ChannelSpec(
            "http.disconnect", "produces", HttpDisconnect, "a client left before its response"
        ),
        ChannelSpec(
            "http.response!",
            "consumes",
            HttpResponse,
            "replies on reply_channel: the response start, then HttpResponseChunk messages",
        ),
    ]


@hookimpl
def gateways_interfaces(host: Any) -> Sequence[Any]:
    from gateways_http.interface import HttpInterface

    return [HttpInterface(host)]


@hookimpl
async def gateways_unrouted(message: Message) -> None:
    if message.channel == REQUEST and message.reply_channel:
        await message.reply({"status": 404, "headers": _TEXT, "content": b"Not Found\n"})


@hookimpl
async def gateways_consumer_failed(message: Message, error: BaseException) -> None:
    if message.channel != REQUEST or not message.reply_channel:
        return
    if not message.replied:
        await message.reply(
            {"status": 500, "headers": _TEXT, "content": b"Internal Server Error\n"}
        )
    else:
        # The response had begun: the client must see it end badly, not look complete.
        await message.layer.send(message.reply_channel, {"abort": True})
