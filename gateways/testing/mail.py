"""``EmailCommunicator``: mail delivered to the consumers as the SMTP server would.

The ``email.receive`` message is built by the email plugin's own parser
(``gateways_email.parse.email_receive``), the very function its SMTP handler calls, so
a test sees what production sees. The plugin must be installed for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from typing import Any

from gateways.layers import BaseChannelLayer
from gateways.testing.base import TIMEOUT, App, ApplicationCommunicator

PARSER = "gateways_email.parse"


def email_parser() -> Callable[..., Any]:
    """The email plugin's ``email_receive(raw, mail_from, rcpt_tos, peer, helo, login)``."""
    try:
        module = importlib.import_module(PARSER)
    except ImportError as exc:
        raise ImportError(
            "EmailCommunicator builds email.receive with the email plugin's parser: "
            "install it (pip install gateways-email)"
        ) from exc
    parse: Callable[..., Any] = module.email_receive
    return parse


def compose(
    from_: str | None,
    to: Sequence[str],
    subject: str,
    body: str,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """A plain-text mail as a client would send it (CRLF line ends)."""
    mail = EmailMessage()
    if from_:
        mail["From"] = from_
    if to:
        mail["To"] = ", ".join(to)
    mail["Subject"] = subject
    mail["Date"] = formatdate()
    mail["Message-ID"] = make_msgid(domain="test.invalid")
    for name, value in (headers or {}).items():
        del mail[name]
        mail[name] = value
    mail.set_content(body)
    return mail.as_bytes(policy=SMTP)


class EmailCommunicator(ApplicationCommunicator):
    """Deliver mail to ``app``: ``await comm.deliver(from_=..., to=[...], subject=...,
    body=...)``, then look at ``comm.sent("email.send")``.

    ``layer``, ``raise_errors`` and ``timeout`` are those of
    :class:`ApplicationCommunicator`.

    Args:
        app: Routes, a router, ``module:attribute``, or one ``email.receive`` consumer.
        peer: The SMTP client's address (``peer`` in the message).
        helo: The name the client greeted with.

    Attributes:
        delivered: The ``email.receive`` messages sent so far.
    """

    channels = ("email.receive",)
    reply_prefix = None

    def __init__(
        self,
        app: App,
        *,
        peer: tuple[str, int] = ("127.0.0.1", 51000),
        helo: str = "client.test.invalid",
        layer: BaseChannelLayer | None = None,
        raise_errors: bool = True,
        timeout: float = TIMEOUT,
    ) -> None:
        super().__init__(app, layer=layer, raise_errors=raise_errors, timeout=timeout)
        self.parse = email_parser()
        self.peer, self.helo = peer, helo
        self.delivered: list[dict[str, Any]] = []

    async def deliver(
        self,
        raw: bytes | None = None,
        *,
        from_: str | None = None,
        to: Sequence[str] = (),
        subject: str = "",
        body: str = "",
        headers: Mapping[str, str] | None = None,
        login: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Hand one mail to the consumers and wait until they handled it.

        Give ``raw`` (the message bytes, CRLF line ends) or the parts of a plain-text
        mail to compose; ``from_`` and ``to`` are the envelope either way. Returns the
        ``email.receive`` message. Unless in ``async with``, the worker stops after.
        """
        recipients = list(to)
        data = raw if raw is not None else compose(from_, recipients, subject, body, headers)
        message = dict(self.parse(data, from_, recipients, self.peer, self.helo, login))
        kept = self.running
        try:
            await self.send_input("email.receive", message)
            self.delivered.append(message)
            await self.wait_idle(timeout)
        finally:
            if not kept:
                await self.stop()
        return message
