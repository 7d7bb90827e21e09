"""Messages of the WebSocket protocol (design section 7)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

Headers = list[list[bytes]]
Address = list[str | int] | None


class WebSocketConnect(TypedDict):
    """``websocket.connect``: a client asks to open a socket; it opens on ``accept``."""

    reply_channel: str
    scheme: str
    path: str
    query_string: bytes
    root_path: str
    headers: Headers
    client: Address
    server: Address
    subprotocols: list[str]
    order: int


class WebSocketReceive(TypedDict):
    """``websocket.receive``: one complete frame from the client (``text`` or ``bytes``)."""

    reply_channel: str
    path: str
    text: NotRequired[str]
    bytes: NotRequired[bytes]
    order: int


class WebSocketDisconnect(TypedDict):
    """``websocket.disconnect``: the socket closed; ``code`` is the close code (1006 if
    the connection dropped without a close frame)."""

    reply_channel: str
    path: str
    code: int
    order: int


class WebSocketReply(TypedDict, total=False):
    """On ``reply_channel`` (``websocket.send.<process>!<socket>``), applied in this order:
    ``accept``, then ``text``/``bytes``, then ``close``.

    ``accept: False`` or ``close`` before the socket opened rejects the handshake with 403
    (``status`` picks another 4xx/5xx). Sending data accepts the socket first.
    """

    accept: bool
    subprotocol: str | None
    text: str
    bytes: bytes
    close: bool | int
    status: int
