"""STARTTLS context and AUTH credentials for the inbound SMTP server."""

from __future__ import annotations

import hmac
import logging
import ssl
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword
from gateways_email.access import peer_text

from gateways.plugin import ConfigError, Throttled, printable

log = logging.getLogger("gateways.email")


def server_tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server-side context for STARTTLS, or None when no certificate is configured."""
    if not cert or not key:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--smtp-tls-cert/--smtp-tls-key: cannot load {cert}: {exc}") from None
    return context


def read_credentials(path: str) -> dict[str, bytes]:
    """``USER:PASSWORD`` lines (``#`` comments and blank lines allowed)."""
    credentials: dict[str, bytes] = {}
    for number, line in enumerate(Path(path).read_text("utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user:
            raise ConfigError(f"--smtp-auth-file {path}, line {number}: expected USER:PASSWORD")
        credentials[user] = password.encode("utf-8")
    if not credentials:
        raise ConfigError(f"--smtp-auth-file {path}: no USER:PASSWORD line")
    return credentials


class FileAuthenticator:
    """aiosmtpd authenticator checking LOGIN/PLAIN credentials in constant time."""

    def __init__(self, credentials: dict[str, bytes]) -> None:
        self.credentials = credentials
        self.warn = Throttled(log)  # password guessing must not flood the log

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        expected = self.credentials.get(user)
        # Compare even for unknown users, so timing does not reveal which names exist.
        ok = hmac.compare_digest(expected or b"\0" * 32, auth_data.password)
        if not (ok and expected is not None):
            self.warn.warning(
                "auth failed",
                "AUTH %s failed for %s from %s",
                printable(mechanism),
                printable(repr(user)),
                peer_text(session.peer),
            )
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user)
