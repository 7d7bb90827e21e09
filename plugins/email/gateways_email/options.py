"""The email plugin's settings and their checks (design section 4)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from gateways.config import ConfigError, Option, Settings, positive

MIB = 1024 * 1024


def host_port(text: str) -> str:
    """``HOST:PORT`` (``[v6]:PORT`` too), checked here so a typo fails at start-up."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return text


def split_host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def port_number(text: str) -> int:
    port = int(text)
    if not 0 <= port < 65536:
        raise ValueError(f"{port} is not a TCP port")
    return port


def domain(text: str) -> str:
    name = text.strip().lower().rstrip(".")
    if not name or "@" in name or any(c.isspace() for c in name):
        raise ValueError(f"expected a domain name, got {text!r}")
    return name


def options() -> Sequence[Option]:
    return [
        Option("smtp_bind", "address the SMTP server listens on", default="127.0.0.1"),
        Option("smtp_port", "SMTP port (0: any free port)", type=port_number, default=8025),
        Option(
            "smtp_domain",
            "recipient domain accepted (repeatable; required; other recipients get 550)",
            type=domain,
            multiple=True,
            metavar="DOMAIN",
        ),
        Option(
            "smtp_max_size",
            "largest message accepted, in bytes (larger ones get 552)",
            type=positive(int),
            default=10 * MIB,
            metavar="BYTES",
        ),
        Option(
            "smtp_max_recipients",
            "recipients per message (more get 452)",
            type=positive(int),
            default=100,
            metavar="N",
        ),
        Option("smtp_hostname", "name in the greeting and in Message-IDs [this host's FQDN]"),
        Option(
            "smtp_timeout",
            "idle seconds before a session is closed",
            type=positive(float),
            default=300.0,
            metavar="SECONDS",
        ),
        Option("smtp_tls_cert", "PEM certificate (chain) offered with STARTTLS", metavar="FILE"),
        Option("smtp_tls_key", "PEM private key of --smtp-tls-cert", metavar="FILE"),
        Option("smtp_require_tls", "refuse mail before STARTTLS", type=bool, default=False),
        Option(
            "smtp_auth_file",
            "enable AUTH PLAIN/LOGIN (after STARTTLS) with USER:PASSWORD lines from FILE",
            metavar="FILE",
        ),
        Option(
            "smtp_auth_required",
            "refuse mail from clients that did not AUTH",
            type=bool,
            default=False,
        ),
        *relay_options(),
    ]


def relay_options() -> Sequence[Option]:
    return [
        Option(
            "smtp_relay",
            "SMTP server that delivers email.send",
            type=host_port,
            metavar="HOST:PORT",
        ),
        Option(
            "smtp_relay_starttls",
            "require STARTTLS with the relay (default: use it when offered)",
            type=bool,
            default=False,
        ),
        Option(
            "smtp_relay_tls", "implicit TLS to the relay (port 465 style)", type=bool, default=False
        ),
        Option("smtp_relay_ca", "CA bundle to verify the relay's certificate", metavar="FILE"),
        Option("smtp_relay_user", "user name for AUTH with the relay"),
        Option("smtp_relay_password", "password for AUTH with the relay"),
        Option("smtp_relay_password_file", "file holding the relay password", metavar="FILE"),
        Option(
            "smtp_relay_retries",
            "delivery attempts before giving up",
            type=positive(int),
            default=5,
            metavar="N",
        ),
        Option(
            "smtp_relay_backoff",
            "seconds before the first retry (then doubled)",
            type=positive(float),
            default=2.0,
            metavar="SECONDS",
        ),
        Option(
            "smtp_relay_timeout",
            "seconds per relay conversation",
            type=positive(float),
            default=30.0,
            metavar="SECONDS",
        ),
        Option(
            "smtp_relay_concurrency",
            "deliveries in flight at once",
            type=positive(int),
            default=10,
            metavar="N",
        ),
        Option("smtp_from", "sender of email.send messages that name none", metavar="ADDRESS"),
    ]


def check(settings: Settings) -> None:
    """Whole-settings checks, only when ``--plugin email`` is selected."""
    if "email" not in (settings.get("plugin") or ()):
        return
    if not settings.get("smtp_domain"):
        raise ConfigError(
            "--smtp-domain is required with --plugin email: name the recipient domains this "
            "server accepts mail for (it never relays mail for other domains)"
        )
    cert, key = settings.get("smtp_tls_cert"), settings.get("smtp_tls_key")
    if bool(cert) != bool(key):
        raise ConfigError("--smtp-tls-cert and --smtp-tls-key go together")
    if settings.get("smtp_require_tls") and not cert:
        raise ConfigError("--smtp-require-tls needs --smtp-tls-cert and --smtp-tls-key")
    if settings.get("smtp_auth_required") and not settings.get("smtp_auth_file"):
        raise ConfigError("--smtp-auth-required needs --smtp-auth-file")
    if settings.get("smtp_auth_file") and not cert:
        raise ConfigError(
            "--smtp-auth-file needs STARTTLS (--smtp-tls-cert/--smtp-tls-key): "
            "passwords are never taken in clear text"
        )
    for name in (
        "smtp_tls_cert",
        "smtp_tls_key",
        "smtp_auth_file",
        "smtp_relay_ca",
        "smtp_relay_password_file",
    ):
        path = settings.get(name)
        if path and not os.access(path, os.R_OK):
            raise ConfigError(f"--{name.replace('_', '-')}: cannot read {path!r}")


def hostname(settings: Mapping[str, Any]) -> str:
    return str(settings.get("smtp_hostname") or socket.getfqdn())
