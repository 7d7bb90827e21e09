"""The http plugin's settings (design section 4), each default stated once, here.

The protocol reads them on every request, so they are plain attributes of one
:class:`HttpOptions` object (``HttpOptions.read(host.settings)``), never dict lookups.
"""

from __future__ import annotations

from gateways.plugin import Options, Settings, not_negative, option, port, positive
from gateways_http.proxy import TrustedProxies, forwarded_allow_ips

MiB = 1024 * 1024


def _root_path(text: str) -> str:
    text = text.strip()
    if text and not text.startswith("/"):
        raise ValueError(f"must start with '/', got {text!r}")
    return text.rstrip("/")


class HttpOptions(Options):
    http_bind: str = option("address to listen on", default="127.0.0.1", metavar="HOST")
    http_port: int = option("TCP port to listen on (0: any free port)", type=port, default=8000)
    http_endpoint: list[str] = option(
        "Twisted endpoint to listen on, e.g. tcp:8000:interface=0.0.0.0, "
        "ssl:8443:privateKey=key.pem:certKey=cert.pem, unix:/run/app.sock "
        "(repeatable; replaces --http-bind/--http-port; ssl: offers HTTP/2 by ALPN)",
        multiple=True,
        metavar="STRPORT",
    )
    http_timeout: float = option(
        "seconds to wait for a consumer's first reply before answering 503",
        type=positive(float),
        default=120.0,
        metavar="SECONDS",
    )
    http_root_path: str = option("root path the app is mounted at", type=_root_path, default="")
    proxy_headers: bool = option(
        "read the client and scheme from Forwarded / X-Forwarded-For/-Proto/-Port "
        "sent by the peers of --forwarded-allow-ips",
        type=bool,
        default=False,
    )
    forwarded_allow_ips: TrustedProxies = option(
        "proxies whose forwarding headers are trusted: addresses and networks, "
        "comma-separated, 'unix' for a Unix socket peer, or * for any",
        type=forwarded_allow_ips,
        default=TrustedProxies.parse("127.0.0.1"),
        metavar="ADDRESSES",
    )
    access_log: str | None = option(
        "write a combined-format access log to FILE, or - for stdout", metavar="FILE"
    )
    http_max_body: int = option(
        "largest request body in bytes, else 413 (0: no limit)",
        type=not_negative(int),
        default=100 * MiB,
        metavar="BYTES",
    )
    http_max_request_line: int = option(
        "longest request line in bytes, else 414",
        type=positive(int),
        default=8192,
        metavar="BYTES",
    )
    http_max_headers: int = option(
        "largest header block in bytes, else 431",
        type=positive(int),
        default=65536,
        metavar="BYTES",
    )
    http_max_header_count: int = option(
        "most header lines in a request, else 431", type=positive(int), default=100, metavar="N"
    )
    http_header_timeout: float = option(
        "seconds a client has to send a request's headers (slowloris guard)",
        type=positive(float),
        default=10.0,
        metavar="SECONDS",
    )
    http_idle_timeout: float = option(
        "seconds an idle keep-alive connection stays open",
        type=positive(float),
        default=15.0,
        metavar="SECONDS",
    )


def check(settings: Settings) -> None:
    """What a converter cannot see alone: an endpoint string must name its kind."""
    for text in HttpOptions.read(settings).http_endpoint:
        if ":" not in text:
            raise settings.error(
                "http_endpoint",
                f"{text!r} is not a Twisted endpoint string "
                "(try tcp:8000, ssl:8443:privateKey=key.pem, unix:/path/to.sock)",
            )


#: Pending connections the kernel queues for the default endpoint (uvicorn's default;
#: Twisted's own, 50, overflows when a few hundred clients connect at once and leaves
#: them waiting for SYN retransmissions).
BACKLOG = 2048


def endpoint_strings(options: HttpOptions) -> list[str]:
    """``--http-endpoint`` values, or one TCP endpoint from ``--http-bind``/``--http-port``."""
    if options.http_endpoint:
        return list(options.http_endpoint)
    interface = options.http_bind.replace(":", r"\:")
    return [f"tcp:port={options.http_port}:interface={interface}:backlog={BACKLOG}"]
