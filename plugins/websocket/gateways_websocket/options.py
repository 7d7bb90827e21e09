"""The websocket plugin's settings (design section 4) and their resolved form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateways.config import ConfigError, Option, Settings, not_negative, positive

MiB = 1024 * 1024


def _origin(text: str) -> str:
    """An allowed origin: ``*``, ``null``, ``https://host[:port]`` or a host pattern."""
    text = text.strip().lower().rstrip("/")
    if not text:
        raise ValueError("an empty origin allows nothing; leave the option out instead")
    if any(c.isspace() for c in text) or "," in text:
        raise ValueError(f"one origin per value, got {text!r}")
    return text


def options() -> Sequence[Option]:
    return [
        Option(
            "ws_ping_interval",
            "seconds between pings to each open socket (0: never ping)",
            type=not_negative(float),
            default=20.0,
            metavar="SECONDS",
        ),
        Option(
            "ws_ping_timeout",
            "seconds a peer may leave a ping unanswered before its socket is dropped",
            type=positive(float),
            default=30.0,
            metavar="SECONDS",
        ),
        Option(
            "ws_connect_timeout",
            "seconds to wait for a consumer to accept a handshake before refusing it (503)",
            type=positive(float),
            default=5.0,
            metavar="SECONDS",
        ),
        Option(
            "ws_max_message",
            "largest incoming message in bytes; larger ones close the socket with 1009",
            type=positive(int),
            default=MiB,
            metavar="BYTES",
        ),
        Option(
            "ws_allowed_origin",
            "Origin allowed to open sockets (repeatable): https://app.example.com, "
            "*.example.com, * or null [default: the request's own host; clients "
            "sending no Origin are always allowed]",
            type=_origin,
            multiple=True,
            metavar="ORIGIN",
        ),
    ]


@dataclass(frozen=True)
class WsConfig:
    """Settings as the protocol reads them (attribute access, no dict lookups)."""

    ping_interval: float = 20.0
    ping_timeout: float = 30.0
    connect_timeout: float = 5.0
    max_message: int = MiB
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> WsConfig:
        get = settings.get
        interval = get("ws_ping_interval")
        return cls(
            ping_interval=20.0 if interval is None else float(interval),
            ping_timeout=get("ws_ping_timeout") or 30.0,
            connect_timeout=get("ws_connect_timeout") or 5.0,
            max_message=get("ws_max_message") or MiB,
            allowed_origins=tuple(get("ws_allowed_origin") or ()),
        )


def check(settings: Settings) -> None:
    if "websocket" not in (settings.get("plugin") or ()):
        return
    if "http" not in (settings.get("plugin") or ()):
        raise ConfigError("--plugin websocket serves sockets on the HTTP port: add --plugin http")
