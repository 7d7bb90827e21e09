"""The email interface: aiosmtpd's SMTP protocol served on the host's event loop (no
threaded controller), and, when a relay is set, ``email.send`` delivered through it.

The receive loop, the tasks and the drain come from :class:`gateways.plugin.Interface`;
this module only says what SMTP needs: how to listen, what is still outstanding while
draining (deliveries, mail being handed to the layer) and how to close sessions (421).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from aiosmtpd.smtp import SMTP
from gateways_email import safelog
from gateways_email.inbound import InboundHandler
from gateways_email.options import EmailOptions
from gateways_email.outbound import SEND_CHANNEL, Outbound
from gateways_email.security import FileAuthenticator, read_credentials, server_tls_context
from gateways_email.session import GatewaysSMTP

from gateways.plugin import Host, Interface

IDENT = "ESMTP gateways"


def quiet_aiosmtpd(ours: logging.Logger) -> None:
    """aiosmtpd logs every command line at INFO on ``mail.log``; keep that for DEBUG.
    What it does log is escaped, and its warnings rate-limited (see :mod:`.safelog`)."""
    logger = logging.getLogger(safelog.AIOSMTPD_LOGGER)
    if logger.level == logging.NOTSET and not ours.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.WARNING)
    safelog.install(ours)


#: What an ``email.receive`` holds beside the raw mail and its decoded parts (envelope,
#: peer, message id, msgpack framing), with room to spare.
RECEIVE_OVERHEAD = 64 * 1024


def layer_size_for(mail_size: int) -> int:
    """The layer ``max_message_size`` an ``email.receive`` of a ``mail_size`` mail needs:
    the raw mail, plus its headers and transfer-decoded bodies (never larger than the
    raw text they come from), plus the envelope."""
    return 2 * mail_size + RECEIVE_OVERHEAD


class EmailInterface(Interface):
    """SMTP in (``email.receive``); ``email.send`` out when ``--smtp-relay`` is set."""

    name = "email"
    consumes = (SEND_CHANNEL,)

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.options = given = EmailOptions.read(self.settings)
        self.hostname = given.hostname()
        self.concurrency = given.smtp_relay_concurrency
        self.handler = InboundHandler(
            self.layer, given.smtp_domain, given.smtp_max_recipients, handed_over=self.changed
        )
        self.server: asyncio.Server | None = None
        self.sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.outbound = (
            Outbound.from_options(self.layer, given, self.hostname) if given.smtp_relay else None
        )

    def channels(self) -> Sequence[str]:
        """``email.send`` only with a relay: without one this process cannot deliver."""
        return self.consumes if self.outbound is not None else ()

    def smtp_factory(self) -> Callable[[], SMTP]:
        """What ``loop.create_server`` calls per connection."""
        given = self.options
        tls = server_tls_context(given.smtp_tls_cert, given.smtp_tls_key)
        auth_file = given.smtp_auth_file
        authenticator = FileAuthenticator(read_credentials(auth_file)) if auth_file else None
        kwargs: dict[str, Any] = {
            "hostname": self.hostname,
            "ident": IDENT,
            "data_size_limit": given.smtp_max_size,
            "enable_SMTPUTF8": True,
            "timeout": given.smtp_timeout,
            "tls_context": tls,
            "require_starttls": given.smtp_require_tls,
            "auth_required": given.smtp_auth_required,
            "auth_require_tls": True,
            "authenticator": authenticator,
        }
        if authenticator is None:
            # No AUTH offered at all (aiosmtpd would otherwise offer it and always fail).
            kwargs["auth_exclude_mechanism"] = ["LOGIN", "PLAIN"]

        def build() -> SMTP:
            session = GatewaysSMTP(self.handler, **kwargs)  # logs each transaction
            self.sessions.add(session)
            return session

        return build

    async def listen(self) -> None:
        quiet_aiosmtpd(self.log)
        self.warn_layer_limit()
        given = self.options
        bind, port = given.smtp_bind, given.smtp_port
        shown = f"[{bind}]" if ":" in bind else bind
        self.server = await self.bind(
            asyncio.get_running_loop().create_server(self.smtp_factory(), bind, port),
            address=f"{shown}:{port}",
            flag="--smtp-port",
        )
        host, port = self.server.sockets[0].getsockname()[:2]
        self.listening("smtp", host, port, f" (as {self.hostname})")
        if self.outbound is None:
            self.log.info("no --smtp-relay: this process does not deliver %s", SEND_CHANNEL)
        else:
            relay = self.outbound.relay
            self.log.info("delivering %s through %s:%d", SEND_CHANNEL, relay.host, relay.port)

    async def handle(self, channel: str, message: dict[str, Any]) -> None:
        """One ``email.send``: delivered, retried or reported, then acknowledged."""
        assert self.outbound is not None  # channels() is empty without a relay
        await self.outbound.handle(channel, message)

    def warn_layer_limit(self) -> None:
        """SIZE in EHLO should be what is accepted end to end: say so when the layer
        would refuse (552) the ``email.receive`` of a mail that SIZE allows."""
        limit, size = self.layer.max_message_size, self.options.smtp_max_size
        needed = layer_size_for(size)
        if needed > limit:
            self.log.warning(
                "--smtp-max-size is %d bytes but the channel layer takes messages up to %d "
                "(an email.receive carries the raw mail and its decoded parts): larger mail "
                "gets 552; raise the layer's max_message_size to %d, or lower --smtp-max-size",
                size,
                limit,
                needed,
            )

    async def stop_accepting(self) -> None:
        """No new connections; open sessions go on until :meth:`close_all`."""
        if self.server is not None:
            self.server.close()

    def outstanding(self) -> int:
        """Deliveries in flight, and mail being handed to the layer (it gets its answer)."""
        return super().outstanding() + self.handler.in_flight

    async def close_all(self) -> None:
        """Say 421 to every session still open, and close it."""
        farewell = b"421 4.3.2 " + self.hostname.encode() + b" shutting down\r\n"
        for session in list(self.sessions):
            transport: Any = session.transport
            if transport is not None and not transport.is_closing():
                transport.write(farewell)
                transport.close()
