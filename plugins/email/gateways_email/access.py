"""The SMTP access log, beside the HTTP combined log: logger ``gateways.email.access``,
at INFO, one line per mail transaction, written as its DATA is answered.

``[127.0.0.1]:40312 helo=mx.sender.org from=<a@sender.org> to=<b@example.com> size=1832
answer=250 2.0.0 OK: queued``. The fields are also given with ``extra=``, so
``--log-format json`` makes them keys: ``peer``, ``helo``, ``mail_from``, ``rcpt_tos``,
``size`` (bytes of the mail, null when it was not read whole), ``code`` (the answer's
number) and ``answer``.

What the client chose (HELO name, addresses, and the answers that quote them) is
escaped in the text line with :func:`~gateways.plugin.printable`: a control character
in an address must not forge or colour a log line. The ``extra=`` fields keep the
values as they are, for structured logs that encode them (JSON escapes them).

Cheap when unused: with the logger off, a session does one level check per DATA.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP

from gateways.plugin import printable

access = logging.getLogger("gateways.email.access")
INFO = logging.INFO
_ADDRESS = re.compile(r"<([^>]*)>")
_SIZE = re.compile(r"\bSIZE=(\d+)", re.IGNORECASE)


def peer_text(peer: Any) -> str:
    """``host:port`` (``[host]:port`` for IPv6) of a session's peer."""
    if isinstance(peer, (tuple, list)) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return printable(str(peer or "-"))


def transaction(session: Any, envelope: Any, answer: str) -> None:
    """Log a transaction whose DATA is answered."""
    content = envelope.original_content
    size = len(content) if content is not None else None
    _line(session, envelope.mail_from, list(envelope.rcpt_tos), size, answer)


def refused_sender(session: Any, arg: str, answer: str) -> None:
    """Log a transaction refused at its first command (``MAIL FROM:<a> SIZE=n``)."""
    address, size = _ADDRESS.search(arg or ""), _SIZE.search(arg or "")
    mail_from = address.group(1) if address else None
    _line(session, mail_from, [], int(size.group(1)) if size else None, answer)


def _line(
    session: Any, mail_from: str | None, rcpt_tos: list[str], size: int | None, answer: str
) -> None:
    peer = peer_text(getattr(session, "peer", None))
    helo = getattr(session, "host_name", None)
    code = int(answer[:3]) if answer[:3].isdigit() else None
    access.info(
        "%s helo=%s from=<%s> to=%s size=%s answer=%s",
        peer,
        printable(helo or "-"),
        printable(mail_from or ""),
        printable(",".join(f"<{to}>" for to in rcpt_tos) or "-", 1000),
        "-" if size is None else size,
        printable(answer),
        extra={
            "peer": peer,
            "helo": helo,
            "mail_from": mail_from,
            "rcpt_tos": rcpt_tos,
            "size": size,
            "code": code,
            "answer": answer,
        },
    )


class AccessSMTP(SMTP):
    """aiosmtpd's SMTP session, logging the answer to each DATA (250 queued, 451 busy,
    552 too large, 550 refused ...) with the transaction's envelope, and each refused
    ``MAIL`` (552 for a declared SIZE over the limit, 530 without AUTH ...)."""

    _answering: tuple[str, Any] | None = None  # (command, its envelope or argument)

    # wraps: HELP reads each command's syntax from attributes of its method.
    @functools.wraps(SMTP.smtp_MAIL)
    async def smtp_MAIL(self, arg: str | None) -> None:
        await self._answered("MAIL", arg, super().smtp_MAIL(arg))

    @functools.wraps(SMTP.smtp_DATA)
    async def smtp_DATA(self, arg: str) -> None:
        # The envelope now: aiosmtpd replaces it with a fresh one before answering.
        await self._answered("DATA", self.envelope, super().smtp_DATA(arg))

    async def _answered(self, command: str, about: Any, handling: Any) -> None:
        if not access.isEnabledFor(INFO):
            await handling
            return
        self._answering = (command, about)
        try:
            await handling
        finally:
            self._answering = None

    async def push(self, status: AnyStr) -> None:
        if self._answering is not None:
            answer = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
            self._log(*self._answering, answer)
        await super().push(status)

    def _log(self, command: str, about: Any, answer: str) -> None:
        """Log the answer that ends ``command``: always for DATA, when refused for MAIL."""
        if answer.startswith("354"):  # "go ahead" is not the answer to DATA
            return
        self._answering = None
        if command == "DATA":
            transaction(self.session, about, answer)
        elif not answer.startswith("2"):
            refused_sender(self.session, about, answer)
