"""The http plugin's settings (design section 4) and the resolved form the server uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateways.config import ConfigError, Option, Settings, not_negative, positive

MiB = 1024 * 1024


def _root_path(text: str) -> str:
    text = text.strip()
    if text and not text.startswith("/"):
        raise ValueError(f"must start with '/', got {text!r}")
    return text.rstrip("/")


def options() -> Sequence[Option]:
    return [
        Option("http_bind", "address to listen on", default="127.0.0.1", metavar="HOST"),
        Option("http_port", "TCP port to listen on (0: any free port)", type=int, default=8000),
        Option(
            "http_endpoint",
            "Twisted endpoint to listen on, e.g. tcp:8000:interface=0.0.0.0, "
            "ssl:8443:privateKey=key.pem:certKey=cert.pem, unix:/run/app.sock "
            "(repeatable; replaces --http-bind/--http-port)",
            multiple=True,
            metavar="STRPORT",
        ),
        Option(
            "http_timeout",
            "seconds to wait for a consumer's first reply before answering 503",
            type=positive(float),
            default=120.0,
            metavar="SECONDS",
        ),
        Option("http_root_path", "root path the app is mounted at", type=_root_path, default=""),
        Option(
            "proxy_headers",
            "trust X-Forwarded-For/-Proto/-Port for client and scheme (behind a proxy only)",
            type=bool,
            default=False,
        ),
        Option("access_log", "write a combined-format access log to FILE, or - for stdout"),
        Option(
            "http_max_body",
            "largest request body in bytes, else 413 (0: no limit)",
            type=not_negative(int),
            default=100 * MiB,
            metavar="BYTES",
        ),
        Option(
            "http_max_request_line",
            "longest request line in bytes, else 414",
            type=positive(int),
            default=8192,
            metavar="BYTES",
        ),
        Option(
            "http_max_headers",
            "largest header block in bytes, else 431",
            type=positive(int),
            default=65536,
            metavar="BYTES",
        ),
        Option(
            "http_max_header_count",
            "most header lines in a request, else 431",
            type=positive(int),
            default=100,
            metavar="N",
        ),
        Option(
            "http_header_timeout",
            "seconds a client has to send a request's headers (slowloris guard)",
            type=positive(float),
            default=10.0,
            metavar="SECONDS",
        ),
        Option(
            "http_idle_timeout",
            "seconds an idle keep-alive connection stays open",
            type=positive(float),
            default=15.0,
            metavar="SECONDS",
        ),
    ]


@dataclass(frozen=True)
class HttpConfig:
    """Settings as the protocol reads them on every request (attribute access, no dict)."""

    bind: str = "127.0.0.1"
    port: int = 8000
    endpoints: tuple[str, ...] = ()
    timeout: float = 120.0
    root_path: str = ""
    proxy_headers: bool = False
    access_log: str | None = None
    max_body: int = 100 * MiB
    max_request_line: int = 8192
    max_headers: int = 65536
    max_header_count: int = 100
    header_timeout: float = 10.0
    idle_timeout: float = 15.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpConfig:
        get = settings.get
        port, max_body = get("http_port"), get("http_max_body")
        return cls(
            bind=get("http_bind") or "127.0.0.1",
            port=8000 if port is None else int(port),
            endpoints=tuple(get("http_endpoint") or ()),
            timeout=get("http_timeout") or 120.0,
            root_path=get("http_root_path") or "",
            proxy_headers=bool(get("proxy_headers")),
            access_log=get("access_log") or None,
            max_body=100 * MiB if max_body is None else int(max_body),
            max_request_line=get("http_max_request_line") or 8192,
            max_headers=get("http_max_headers") or 65536,
            max_header_count=get("http_max_header_count") or 100,
            header_timeout=get("http_header_timeout") or 10.0,
            idle_timeout=get("http_idle_timeout") or 15.0,
        )


def check(settings: Settings) -> None:
    port = settings.get("http_port")
    if port is not None and not 0 <= port < 65536:
        raise ConfigError(f"--http-port: {port} is not a TCP port")
    for text in settings.get("http_endpoint") or ():
        if ":" not in text:
            raise ConfigError(
                f"--http-endpoint: {text!r} is not a Twisted endpoint string "
                "(try tcp:8000, ssl:8443:privateKey=key.pem, unix:/path/to.sock)"
            )
