"""Building a proper MIME message from an ``email.send`` message, refusing anything that
could inject headers.

The standard library writes the MIME (``EmailMessage``: text, HTML alternative,
attachments); this module only checks what consumers put in, so that a CR or LF in a
subject or address taken from an incoming mail can never add a header or a recipient.
"""

from __future__ import annotations

import email.policy
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

#: RFC 5322 field names: printable ASCII except the colon.
FIELD_NAME = re.compile(r"^[!-9;-~]+$")
#: Headers the MIME structure owns; a consumer setting them would corrupt the message.
RESERVED = frozenset({"content-type", "content-transfer-encoding", "mime-version", "bcc"})


class InvalidEmail(ValueError):
    """An ``email.send`` message that cannot be sent as it is (never retried)."""


@dataclass(frozen=True)
class Outgoing:
    message: EmailMessage
    sender: str
    recipients: list[str]
    message_id: str


def header_text(content: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = content.get(key)
    if value is None:
        if required:
            raise InvalidEmail(f"email.send needs {key!r}")
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise InvalidEmail(f"{key!r} must be a str, not {type(value).__name__}")
    if "\r" in value or "\n" in value:
        raise InvalidEmail(f"{key!r} contains CR or LF (header injection refused)")
    return value


def address_list(content: Mapping[str, Any], key: str) -> list[str]:
    value = content.get(key) or []
    if isinstance(value, str | bytes):
        value = [value]
    if not isinstance(value, list):
        raise InvalidEmail(f"{key!r} must be a list of addresses")
    return [checked_address(item, key) for item in value]


def checked_address(item: Any, key: str) -> str:
    text = header_text({key: item}, key, required=True)
    assert text is not None
    _, addr = email.utils.parseaddr(text)
    if "@" not in addr or any(c in addr for c in " <>,;"):
        raise InvalidEmail(f"{key!r}: {text!r} is not an email address")
    return text


def envelope_address(text: str) -> str:
    return email.utils.parseaddr(text)[1]


def extra_headers(value: Any) -> list[tuple[str, str]]:
    """``headers`` as ``{name: value}`` or ``[[name, value], ...]`` (str or bytes)."""
    if value is None:
        return []
    pairs = list(value.items()) if isinstance(value, Mapping) else value
    if not isinstance(pairs, list | tuple):
        raise InvalidEmail("'headers' must be a dict or a list of [name, value] pairs")
    checked = []
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise InvalidEmail(f"'headers': {pair!r} is not a [name, value] pair")
        name = header_text({"header name": pair[0]}, "header name", required=True) or ""
        text = header_text({f"header {name}": pair[1]}, f"header {name}", required=True) or ""
        if not FIELD_NAME.match(name) or name.lower() in RESERVED:
            raise InvalidEmail(f"'headers': {name!r} cannot be set")
        checked.append((name, text))
    return checked


def references(content: Mapping[str, Any], in_reply_to: str | None) -> str | None:
    given = content.get("references") or []
    if isinstance(given, str):
        given = given.split()
    if not isinstance(given, list):
        raise InvalidEmail("'references' must be a list of message ids")
    ids = [header_text({"references": r}, "references", required=True) or "" for r in given]
    if in_reply_to and in_reply_to not in ids:
        ids.append(in_reply_to)
    return " ".join(ids) or None


def compose(content: Mapping[str, Any], hostname: str, default_from: str | None) -> Outgoing:
    """The MIME message, envelope sender and recipients for one ``email.send``."""
    if not isinstance(content, Mapping):
        raise InvalidEmail("email.send message must be a dict")
    sender = header_text(content, "from") or default_from
    if not sender:
        raise InvalidEmail("email.send needs 'from' (or set --smtp-from)")
    sender = checked_address(sender, "from")
    to, cc, bcc = (address_list(content, k) for k in ("to", "cc", "bcc"))
    if not (to or cc or bcc):
        raise InvalidEmail("email.send needs at least one recipient in 'to'")
    message = EmailMessage(policy=email.policy.SMTP)
    message_id = header_text(content, "message_id") or email.utils.make_msgid(domain=hostname)
    in_reply_to = header_text(content, "in_reply_to")
    fields: list[tuple[str, str | None]] = [
        ("From", sender),
        ("To", ", ".join(to) or None),
        ("Cc", ", ".join(cc) or None),
        ("Reply-To", header_text(content, "reply_to")),
        ("Subject", header_text(content, "subject") or ""),
        ("Date", email.utils.formatdate(localtime=True)),
        ("Message-ID", message_id),
        ("In-Reply-To", in_reply_to),
        ("References", references(content, in_reply_to)),
        *extra_headers(content.get("headers")),
    ]
    try:
        for name, value in fields:
            if value is not None:
                message[name] = value
        add_body(message, content)
    except (ValueError, TypeError) as exc:  # the email package's own checks
        raise InvalidEmail(str(exc)) from None
    recipients = [envelope_address(a) for a in (*to, *cc, *bcc)]
    return Outgoing(message, envelope_address(sender), recipients, message_id)


def add_body(message: EmailMessage, content: Mapping[str, Any]) -> None:
    body = content.get("body", "")
    html = content.get("html")
    if not isinstance(body, str) or not isinstance(html, str | None):
        raise InvalidEmail("'body' and 'html' must be str")
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    attachments = content.get("attachments") or []
    if not isinstance(attachments, list):
        raise InvalidEmail("'attachments' must be a list")
    for attachment in attachments:
        add_attachment(message, attachment)


def add_attachment(message: EmailMessage, attachment: Any) -> None:
    if not isinstance(attachment, Mapping) or not isinstance(attachment.get("data"), bytes):
        raise InvalidEmail("each attachment needs 'data' (bytes) and a 'filename'")
    filename = header_text(attachment, "filename", required=True)
    kind = header_text(attachment, "content_type") or "application/octet-stream"
    maintype, _, subtype = kind.partition("/")
    message.add_attachment(
        attachment["data"],
        maintype=maintype,
        subtype=subtype or "octet-stream",
        filename=filename,
    )
