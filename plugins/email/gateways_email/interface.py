"""The email interface: aiosmtpd's SMTP protocol served on the host's event loop (no
threaded controller), plus the outbound ``email.send`` loop when a relay is set."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping
from typing import Any

from aiosmtpd.smtp import SMTP
from gateways_email import options
from gateways_email.inbound import InboundHandler
from gateways_email.outbound import SEND_CHANNEL, Outbound, Relay
from gateways_email.security import FileAuthenticator, read_credentials, server_tls_context

from gateways.layers import BaseChannelLayer

log = logging.getLogger("gateways.email")
IDENT = "ESMTP gateways"


def quiet_aiosmtpd() -> None:
    """aiosmtpd logs every command line at INFO on ``mail.log``; keep that for DEBUG."""
    logger = logging.getLogger("mail.log")
    if logger.level == logging.NOTSET and not log.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.WARNING)


class EmailInterface:
    name = "email"

    def __init__(self, settings: Mapping[str, Any], layer: BaseChannelLayer) -> None:
        self.settings = settings
        self.layer = layer
        self.hostname = options.hostname(settings)
        self.handler = InboundHandler(
            layer, settings["smtp_domain"], settings["smtp_max_recipients"]
        )
        self.server: asyncio.Server | None = None
        self.sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.outbound: Outbound | None = None

    def smtp_factory(self) -> Any:
        """What ``loop.create_server`` calls per connection."""
        s = self.settings
        tls = server_tls_context(s.get("smtp_tls_cert"), s.get("smtp_tls_key"))
        auth_file = s.get("smtp_auth_file")
        authenticator = FileAuthenticator(read_credentials(auth_file)) if auth_file else None
        kwargs: dict[str, Any] = {
            "hostname": self.hostname,
            "ident": IDENT,
            "data_size_limit": s["smtp_max_size"],
            "enable_SMTPUTF8": True,
            "timeout": s.get("smtp_timeout") or 300.0,
            "tls_context": tls,
            "require_starttls": bool(s.get("smtp_require_tls")),
            "auth_required": bool(s.get("smtp_auth_required")),
            "auth_require_tls": True,
            "authenticator": authenticator,
        }
        if authenticator is None:
            # No AUTH offered at all (aiosmtpd would otherwise offer it and always fail).
            kwargs["auth_exclude_mechanism"] = ["LOGIN", "PLAIN"]

        def build() -> SMTP:
            session = SMTP(self.handler, **kwargs)
            self.sessions.add(session)
            return session

        return build

    async def start(self) -> None:
        quiet_aiosmtpd()
        self.warn_layer_limit()
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            self.smtp_factory(), self.settings["smtp_bind"], self.settings["smtp_port"]
        )
        host, port = self.server.sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        log.info("listening on smtp://%s:%d (as %s)", shown, port, self.hostname)
        self.start_outbound()

    def start_outbound(self) -> None:
        relay = self.settings.get("smtp_relay")
        if not relay:
            log.info("no --smtp-relay: this process does not deliver %s", SEND_CHANNEL)
            return
        host, port = options.split_host_port(relay)
        s = self.settings
        self.outbound = Outbound(
            self.layer,
            Relay.from_settings(host, port, s, self.hostname),
            hostname=self.hostname,
            default_from=s.get("smtp_from"),
            retries=s.get("smtp_relay_retries") or 5,
            backoff=s.get("smtp_relay_backoff") or 2.0,
            concurrency=s.get("smtp_relay_concurrency") or 10,
        )
        self.outbound.start()

    def warn_layer_limit(self) -> None:
        limit = self.layer.max_message_size
        if self.settings["smtp_max_size"] * 2 > limit:
            log.warning(
                "--smtp-max-size is %d bytes but the channel layer takes messages up to %d "
                "(an email.receive carries the raw mail and its decoded parts): larger mail "
                "gets 552; raise the layer's max_message_size to match",
                self.settings["smtp_max_size"],
                limit,
            )

    async def drain(self, grace: float) -> None:
        """Stop accepting; let mail being handed over get its answer; then say 421."""
        if self.server is not None:
            self.server.close()
        if self.outbound is not None:
            await self.outbound.drain(grace)
        await self.handler.idle(grace)
        for session in list(self.sessions):
            transport: Any = session.transport
            if transport is not None and not transport.is_closing():
                transport.write(b"421 4.3.2 " + self.hostname.encode() + b" shutting down\r\n")
                transport.close()
