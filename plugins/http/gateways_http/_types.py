"""Messages of the HTTP protocol (design section 7)."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class HttpRequest(TypedDict):
    """``http.request``: one request, with its body or the start of it."""

    reply_channel: str
    http_version: str
    method: str
    scheme: str
    path: str
    query_string: bytes
    root_path: str
    headers: list[list[bytes]]
    body: bytes
    body_channel: str | None
    client: list[str | int] | None
    server: list[str | int] | None


class HttpBodyChunk(TypedDict):
    """On ``body_channel``: the rest of a large request body, in order. A body cut off
    ends with an empty last chunk whose ``error`` says why (``"client disconnected"``,
    ``"body too large"``, ``"malformed body"``, ``"connection closed"``)."""

    content: bytes
    more_content: bool
    error: NotRequired[str]


class HttpResponse(TypedDict):
    """The first reply on ``reply_channel``."""

    status: int
    headers: NotRequired[list[list[bytes]]]
    content: NotRequired[bytes]
    more_content: NotRequired[bool]


class HttpResponseChunk(TypedDict):
    """Later replies of a streamed response; ``abort`` drops the connection."""

    content: NotRequired[bytes]
    more_content: NotRequired[bool]
    abort: NotRequired[bool]
    #: A channel that also gets ``http.disconnect`` if the client leaves first.
    notify_disconnect: NotRequired[str]


class HttpDisconnect(TypedDict):
    """``http.disconnect``: the client went away before its response was complete."""

    reply_channel: str
    path: str
