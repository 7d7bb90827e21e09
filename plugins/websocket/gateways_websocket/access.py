"""The WebSocket access log, beside the HTTP combined log: logger
``gateways.websocket.access``, at INFO.

One line when a client asks to open a socket (path, client, Origin), one when the
handshake is accepted (subprotocol, reply channel) or refused (HTTP status and why:
a refused Origin, the consumer's answer, a full channel ...), and one when a socket that
was not refused closes (close code, seconds open). Each line's fields are also given
with ``extra=``, so ``--log-format json`` makes them keys: ``event`` (``connect``,
``accept``, ``reject``, ``close``), ``client``, ``path``, ``status``, ``reason``,
``subprotocol``, ``channel``, ``code``, ``duration``.

Cheap when unused: each call returns after one level check when the logger is off
(``--log-level warning``, or a ``--log-config`` that silences it).

What the client chose (path, Origin, subprotocol, autobahn's reasons quoting its
headers) is escaped in the text (:func:`~gateways.plugin.printable`): a control
character in a log line forges a line or rewrites the operator's terminal. The
``extra=`` fields keep the values as they were (JSON escapes them itself).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from gateways.plugin import printable
from gateways_websocket._types import Headers

if TYPE_CHECKING:
    from gateways_websocket.protocol import WebSocketProtocol

access = logging.getLogger("gateways.websocket.access")
INFO = logging.INFO


def _client(socket: WebSocketProtocol) -> str:
    client = socket.client
    if not client:
        return "-"
    host, port = client[0], client[1] if len(client) > 1 else None
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"{shown}:{port}" if port is not None else shown


def origin_of(headers: Headers) -> str | None:
    for name, value in headers:
        if name == b"origin":
            return value.decode("latin-1")
    return None


def _line(socket: WebSocketProtocol, event: str, text: str, *args: Any, **fields: Any) -> None:
    client, path = _client(socket), socket.path
    fields.update(event=event, client=client, path=path)
    shown = [printable(arg) if isinstance(arg, str | bytes) else arg for arg in args]
    access.info("%s %s " + text, client, printable(path), *shown, extra=fields)


def connecting(socket: WebSocketProtocol, headers: Headers) -> None:
    if access.isEnabledFor(INFO):
        origin = origin_of(headers)
        _line(socket, "connect", "connect (Origin: %s)", origin or "-", origin=origin)


def accepted(socket: WebSocketProtocol) -> None:
    if access.isEnabledFor(INFO):
        subprotocol = socket.websocket_protocol_in_use
        channel = socket.reply_channel
        _line(
            socket,
            "accept",
            "accepted%s as %s",
            f" ({subprotocol})" if subprotocol else "",
            channel,
            subprotocol=subprotocol,
            channel=channel,
        )


def rejected(socket: WebSocketProtocol, status: int, reason: str, detail: str | None) -> None:
    if access.isEnabledFor(INFO):
        why = f"{reason} ({detail})" if detail else reason
        _line(socket, "reject", "rejected %d: %s", status, why, status=status, reason=why)


def closed(socket: WebSocketProtocol, code: int) -> None:
    if access.isEnabledFor(INFO):
        duration = round(time.monotonic() - socket.started, 3)
        channel = socket.reply_channel or None
        _line(
            socket,
            "close",
            "closed %d after %.3fs",
            code,
            duration,
            code=code,
            duration=duration,
            channel=channel,
        )
