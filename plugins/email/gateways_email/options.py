"""The email plugin's settings and their checks (design section 4).

Each default is stated once, in its declaration; code reads ``EmailOptions.read(settings)``.
"""

from __future__ import annotations

import os
import socket

from gateways.plugin import (
    ConfigError,
    Options,
    Settings,
    byte_size,
    host_port,
    option,
    port,
    positive,
)

MIB = 1024 * 1024

#: Options naming a file the server must be able to read at start.
FILES = (
    "smtp_tls_cert",
    "smtp_tls_key",
    "smtp_auth_file",
    "smtp_relay_ca",
    "smtp_relay_password_file",
)


def domain(text: str) -> str:
    """A recipient domain, normalised (lower case, no trailing dot)."""
    name = text.strip().lower().rstrip(".")
    if not name or "@" in name or any(c.isspace() for c in name):
        raise ValueError(f"expected a domain name, got {text!r}")
    return name


class EmailOptions(Options):
    """Inbound SMTP (``smtp_*``) and outbound delivery (``smtp_relay*``, ``smtp_from``)."""

    smtp_bind: str = option("address the SMTP server listens on", default="127.0.0.1")
    smtp_port: int = option("SMTP port (0: any free port)", type=port, default=8025)
    smtp_domain: list[str] = option(
        "recipient domain accepted (repeatable; required; other recipients get 550)",
        type=domain,
        multiple=True,
        metavar="DOMAIN",
    )
    smtp_max_size: int = option(
        "largest message accepted, in bytes or with a unit such as 10MiB (larger ones get 552)",
        type=positive(byte_size),
        default=10 * MIB,
        metavar="SIZE",
    )
    smtp_max_recipients: int = option(
        "recipients per message (more get 452)", type=positive(int), default=100, metavar="N"
    )
    smtp_hostname: str | None = option("name in the greeting and in Message-IDs [this host's FQDN]")
    smtp_timeout: float = option(
        "idle seconds before a session is closed",
        type=positive(float),
        default=300.0,
        metavar="SECONDS",
    )
    smtp_tls_cert: str | None = option(
        "PEM certificate (chain) offered with STARTTLS", metavar="FILE"
    )
    smtp_tls_key: str | None = option("PEM private key of --smtp-tls-cert", metavar="FILE")
    smtp_require_tls: bool = option("refuse mail before STARTTLS", type=bool, default=False)
    smtp_auth_file: str | None = option(
        "enable AUTH PLAIN/LOGIN (after STARTTLS) with USER:PASSWORD lines from FILE",
        metavar="FILE",
    )
    smtp_auth_required: bool = option(
        "refuse mail from clients that did not AUTH", type=bool, default=False
    )
    smtp_relay: tuple[str, int] | None = option(
        "SMTP server that delivers email.send", type=host_port, metavar="HOST:PORT"
    )
    smtp_relay_starttls: bool = option(
        "require STARTTLS with the relay (default: use it when offered)",
        type=bool,
        default=False,
    )
    smtp_relay_tls: bool = option(
        "implicit TLS to the relay (port 465 style)", type=bool, default=False
    )
    smtp_relay_ca: str | None = option(
        "CA bundle to verify the relay's certificate", metavar="FILE"
    )
    smtp_relay_user: str | None = option("user name for AUTH with the relay")
    smtp_relay_password: str | None = option("password for AUTH with the relay")
    smtp_relay_password_file: str | None = option("file holding the relay password", metavar="FILE")
    smtp_relay_retries: int = option(
        "delivery attempts before giving up", type=positive(int), default=5, metavar="N"
    )
    smtp_relay_backoff: float = option(
        "seconds before the first retry (then doubled)",
        type=positive(float),
        default=2.0,
        metavar="SECONDS",
    )
    smtp_relay_timeout: float = option(
        "seconds per relay conversation", type=positive(float), default=30.0, metavar="SECONDS"
    )
    smtp_relay_concurrency: int = option(
        "deliveries in flight at once", type=positive(int), default=10, metavar="N"
    )
    smtp_from: str | None = option(
        "sender of email.send messages that name none", metavar="ADDRESS"
    )

    def hostname(self) -> str:
        """The name the server calls itself (unset: this host's FQDN, asked only then)."""
        return self.smtp_hostname or socket.getfqdn()

    def relay_password(self) -> str | None:
        """The relay password, from its file when one is given."""
        if self.smtp_relay_password_file:
            with open(self.smtp_relay_password_file, encoding="utf-8") as handle:
                return handle.read().strip()
        return self.smtp_relay_password


def check(settings: Settings) -> None:
    """Whole-settings checks (``gateways_configure`` runs them for ``--plugin email``)."""
    given = EmailOptions.read(settings)
    if not given.smtp_domain:
        raise ConfigError(
            "--smtp-domain is required with --plugin email: name the recipient domains this "
            "server accepts mail for (it never relays mail for other domains)"
        )
    cert, key = given.smtp_tls_cert, given.smtp_tls_key
    if bool(cert) != bool(key):
        raise settings.error(
            "smtp_tls_cert" if cert else "smtp_tls_key",
            "--smtp-tls-cert and --smtp-tls-key go together",
        )
    if given.smtp_require_tls and not cert:
        raise settings.error("smtp_require_tls", "needs --smtp-tls-cert and --smtp-tls-key")
    if given.smtp_auth_required and not given.smtp_auth_file:
        raise settings.error("smtp_auth_required", "needs --smtp-auth-file")
    if given.smtp_auth_file and not cert:
        raise settings.error(
            "smtp_auth_file",
            "needs STARTTLS (--smtp-tls-cert/--smtp-tls-key): "
            "passwords are never taken in clear text",
        )
    for name in FILES:
        path = getattr(given, name)
        if path and not os.access(path, os.R_OK):
            raise settings.error(name, f"cannot read {path!r}")
