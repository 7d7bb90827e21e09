"""Reading a support mail and writing the answer (the standard library's email package
does the parsing; the email plugin builds and sends what ``answer`` returns)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any

from examples.helpdesk.tickets import Ticket

LONGEST_BODY = 4000  # characters of a mail kept with its ticket


def sender_of(mail: Mapping[str, Any]) -> str:
    """Where answers go: ``Reply-To``, else ``From``, else the envelope sender.

    The envelope sender may be a bounce address, so the headers come first.
    """
    headers = mail["headers"]
    for name in ("reply-to", "from"):
        value = headers.get(name)
        address = parseaddr(value)[1] if isinstance(value, str) else ""
        if "@" in address:
            return address
    return str(mail["from"] or "")


def text_of(raw: bytes) -> str:
    """The mail's plain-text body (or its HTML one, as is), shortened."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    body = parsed.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    return str(text).strip()[:LONGEST_BODY]


def answer(ticket: Ticket, text: str, by: str, address: str) -> dict[str, Any]:
    """The ``email.send`` message answering ``ticket``, threaded under its mail."""
    subject = ticket["subject"]
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    mail: dict[str, Any] = {
        "from": address,
        "to": [ticket["sender"]],
        "subject": subject,
        "body": f"{text}\n\n-- \n{by}, {address} (ticket #{ticket['id']})\n",
    }
    if ticket["message_id"]:
        mail["in_reply_to"] = ticket["message_id"]  # also sets References
    return mail
