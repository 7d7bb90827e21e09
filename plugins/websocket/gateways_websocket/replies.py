"""Applying a reply from the layer (``{accept}``, ``{text}``/``{bytes}``, ``{close}``) to
its socket, in the order the contract gives: accept, then data, then close."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from gateways.plugin import Throttled, printable
from gateways_websocket.protocol import WebSocketProtocol, sendable

log = logging.getLogger("gateways.websocket")
warn = Throttled(log)  # a consumer's bad replies, per message: one a minute, with counts

_KINDS: dict[str, tuple[type, ...]] = {
    "accept": (bool,),
    "subprotocol": (str, type(None)),
    "text": (str,),
    "bytes": (bytes,),
    "close": (bool, int),
    "status": (int,),
}


def reply_problem(message: Mapping[str, Any]) -> str | None:
    """Why a reply cannot be applied at all, or None."""
    for key, kinds in _KINDS.items():
        if key in message and not isinstance(message[key], kinds):
            names = " or ".join(k.__name__ for k in kinds)
            return f"{key!r} must be {names}, not {type(message[key]).__name__}"
    status = message.get("status")
    if status is not None and not 400 <= status <= 599:
        return f"'status' must be an HTTP error status (400-599), not {status}"
    return None


def close_code(message: Mapping[str, Any], channel: str) -> int | None:
    """The close code a reply asks for (``True`` is 1000), or None to stay open."""
    close = message.get("close")
    if close is None or close is False:
        return None
    if close is True:
        return 1000
    if not sendable(close):
        warn.error(
            "close code", "%s: close code %d cannot be sent; closing with 1000", channel, close
        )
        return 1000
    return int(close)


def apply_reply(socket: WebSocketProtocol, message: Mapping[str, Any]) -> None:
    problem = reply_problem(message)
    if problem is not None:
        warn.error(
            "bad reply",
            "%s: reply ignored: %s (%s)",
            socket.reply_channel,
            problem,
            printable(repr(message)),
        )
        return
    code = close_code(message, socket.reply_channel)
    if socket.connecting and not _handshake(socket, message, code):
        return
    if socket.state != socket.STATE_OPEN:
        return  # closing or closed: the peer gets nothing more
    if "text" in message:
        socket.send(message["text"])
    if "bytes" in message:
        socket.send(message["bytes"])
    if code is not None:
        socket.close(code)


def _handshake(socket: WebSocketProtocol, message: Mapping[str, Any], code: int | None) -> bool:
    """Settle a pending handshake; True when the socket is now open for the rest."""
    opens = bool(message.get("accept")) or "text" in message or "bytes" in message
    if message.get("accept") is False or (code is not None and not opens):
        status = message.get("status") or (500 if code == 1011 else 403)
        socket.reject(status, _phrase(status), "consumer refused")
        return False
    if opens:
        socket.accept(message.get("subprotocol"))
        return socket.state == socket.STATE_OPEN
    return False  # e.g. only a subprotocol: nothing decided yet


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Refused"
