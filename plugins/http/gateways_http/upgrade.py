"""What the HTTP interface hands to a plugin that may take over an ``Upgrade`` request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UpgradeRequest:
    """A request that asked for ``Connection: upgrade`` + ``Upgrade: <token>``.

    The fields match ``http.request`` (same path decoding, root-path stripping, header
    filtering and proxy-header handling), so a WebSocket plugin builds its
    ``websocket.connect`` from it without parsing HTTP itself. ``raw`` holds every byte
    received for this request so far (request line, headers and anything after): a
    protocol that takes over replays it to redo the handshake.
    """

    upgrade: str
    method: str
    path: str
    raw_path: bytes
    query_string: bytes
    root_path: str
    headers: list[list[bytes]]
    scheme: str
    client: list[str | int] | None
    server: list[str | int] | None
    raw: bytes
