"""The websocket plugin's settings (design section 4), each default stated once here."""

from __future__ import annotations

from gateways.plugin import Options, Settings, byte_size, not_negative, option, positive

MiB = 1024 * 1024


def _origin(text: str) -> str:
    """An allowed origin: ``*``, ``null``, ``https://host[:port]`` or a host pattern."""
    text = text.strip().lower().rstrip("/")
    if not text:
        raise ValueError("an empty origin allows nothing; leave the option out instead")
    if any(c.isspace() for c in text) or "," in text:
        raise ValueError(f"one origin per value, got {text!r}")
    return text


class WsOptions(Options):
    """What ``--ws-*`` sets; ``WsOptions.read(settings)`` is what the protocol reads."""

    ws_ping_interval: float = option(
        "seconds between pings to each open socket (0: never ping)",
        type=not_negative(float),
        default=20.0,
        metavar="SECONDS",
    )
    ws_ping_timeout: float = option(
        "seconds a peer may leave a ping unanswered before its socket is dropped",
        type=positive(float),
        default=30.0,
        metavar="SECONDS",
    )
    ws_connect_timeout: float = option(
        "seconds to wait for a consumer to accept a handshake before refusing it (503)",
        type=positive(float),
        default=5.0,
        metavar="SECONDS",
    )
    ws_max_message: int = option(
        "largest incoming message (1048576, 512KiB, 1MiB); larger ones close the socket with 1009",
        type=positive(byte_size),
        default=MiB,
        metavar="BYTES",
    )
    ws_allowed_origin: list[str] = option(
        "Origin allowed to open sockets (repeatable): https://app.example.com, "
        "*.example.com, * or null [default: the request's own host; clients "
        "sending no Origin are always allowed]",
        type=_origin,
        multiple=True,
        metavar="ORIGIN",
    )


def check(settings: Settings) -> None:
    """Sockets arrive through the http plugin's port: without it none ever would."""
    if "http" not in settings.get("plugin", ()):
        raise settings.error(
            "plugin", "websocket serves sockets on the HTTP port: add --plugin http"
        )
