"""Inbound SMTP: the aiosmtpd handler that turns accepted mail into ``email.receive``.

The SMTP answer is the delivery guarantee: 250 is sent only after the channel layer has
taken the message, so a sender that got 250 can forget the mail; a full or unreachable
layer answers 451 and the sending MTA keeps it and retries.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from gateways_email._types import EmailReceive
from gateways_email.access import peer_text
from gateways_email.parse import email_receive

from gateways.plugin import BaseChannelLayer, ChannelFull, MessageTooLarge, Throttled

log = logging.getLogger("gateways.email")

RECEIVE_CHANNEL = "email.receive"
#: Parse bigger mails in a thread, so one large message does not stall every session.
INLINE_PARSE_BYTES = 64 * 1024


def has_bare_line_end(raw: bytes) -> bool:
    """Whether ``raw`` holds a CR or LF that is not part of a CRLF pair. aiosmtpd 1.4.6
    only ends DATA on ``<CRLF>.<CRLF>``, but a mail carrying ``<LF>.<CRLF>`` could end
    early at a lenient server it is forwarded to (SMTP smuggling), so such mail is
    refused outright. Counted rather than searched with a regex: three scans in C are
    ten times cheaper than a look-behind per byte (CRLF pairs cannot overlap, so the
    counts agree exactly when every CR and every LF belongs to a pair)."""
    pairs = raw.count(b"\r\n")
    return raw.count(b"\r") != pairs or raw.count(b"\n") != pairs


def is_utf8(text: str) -> bool:
    """aiosmtpd keeps undecodable bytes as surrogates; such an address is refused."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class InboundHandler:
    """aiosmtpd handler: who may receive mail here, and handing mail to the layer.

    ``in_flight`` counts mails whose DATA is being handed over, so a drain lets them get
    their 250 or 451; ``handed_over`` is called each time one is answered.
    """

    def __init__(
        self,
        layer: BaseChannelLayer,
        domains: Iterable[str],
        max_recipients: int,
        channel: str = RECEIVE_CHANNEL,
        handed_over: Callable[[], None] = lambda: None,
    ) -> None:
        self.layer = layer
        self.domains = frozenset(d.lower().rstrip(".") for d in domains)
        self.max_recipients = max_recipients
        self.channel = channel
        self.handed_over = handed_over
        self.accepted = 0
        self.in_flight = 0
        #: Per-mail and per-client warnings: one line a minute per kind, with counts.
        self.warn = Throttled(log)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        # aiosmtpd advertises a bare "AUTH" even when no mechanism is enabled.
        return [line for line in responses if line.rstrip() != "250-AUTH"]

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if not is_utf8(address):
            return "553 5.1.7 Sender address is not valid UTF-8"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return f"452 4.5.3 Too many recipients (at most {self.max_recipients} per message)"
        if not is_utf8(address):
            return "553 5.1.3 Recipient address is not valid UTF-8"
        if not self.is_local(address):
            return self.refuse(server, session, address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    def is_local(self, address: str) -> bool:
        local, at, domain = address.rpartition("@")
        return bool(at and local) and domain.lower().rstrip(".") in self.domains

    def refuse(self, server: Any, session: Any, address: str) -> str:
        """550 for a foreign recipient; a session that keeps trying is cut off."""
        refused = getattr(session, "gateways_refused", 0) + 1
        session.gateways_refused = refused
        if refused > self.max_recipients:
            self.warn.warning(
                "refused recipients",
                "%s: %d refused recipients, closing",
                peer_text(session.peer),
                refused,
            )
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.7.0 Too many refused recipients, closing connection"
        return f"550 5.7.1 <{address}>: relay access denied (not a local domain)"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.in_flight += 1
        try:
            return await self.receive(session, envelope)
        finally:
            self.in_flight -= 1
            self.handed_over()

    async def receive(self, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or b""
        if has_bare_line_end(raw):
            self.warn.warning(
                "bare line end", "%s: refused a mail with a bare CR or LF", peer_text(session.peer)
            )
            return "550 5.6.11 Bare CR or LF in message data (lines must end with CRLF)"
        try:
            message = await self.parse(raw, session, envelope)
        except Exception:
            log.exception("%s: could not parse a mail", peer_text(session.peer))
            return "554 5.6.0 Message could not be parsed"
        status = await self.hand_over(message)
        if status is None:
            self.accepted += 1
            return "250 2.0.0 OK: queued"
        return status

    @staticmethod
    async def parse(raw: bytes, session: Any, envelope: Any) -> EmailReceive:
        login = session.auth_data if session.authenticated else None
        parse = functools.partial(
            email_receive,
            raw,
            envelope.mail_from,
            envelope.rcpt_tos,
            session.peer,
            session.host_name,
            login,
        )
        if len(raw) > INLINE_PARSE_BYTES:
            return await asyncio.to_thread(parse)
        return parse()

    async def hand_over(self, message: EmailReceive) -> str | None:
        """Put the mail on the layer; None when taken, else the SMTP error to answer."""
        try:
            await self.layer.send(self.channel, message)
        except ChannelFull:
            self.warn.warning("full", "%s is full: answering 451", self.channel)
            return "451 4.3.1 Too busy right now, try again later"
        except MessageTooLarge as exc:
            self.warn.warning("too large", "mail too large for the channel layer: %s", exc)
            return "552 5.3.4 Message too big for this server"
        except (ConnectionError, OSError, TimeoutError) as exc:
            self.warn.error("unreachable", "channel layer unreachable (%s): answering 451", exc)
            return "451 4.3.0 Temporary failure, try again later"
        except Exception:
            log.exception("could not hand a mail to the channel layer: answering 451")
            return "451 4.3.0 Temporary failure, try again later"
        return None
