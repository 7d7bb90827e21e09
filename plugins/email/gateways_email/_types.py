"""Message shapes of the email channels (design section 7), as TypedDicts."""

from __future__ import annotations

from typing import Any, TypedDict

# ``from`` is a keyword, so these use the functional TypedDict syntax.

#: One node of ``email.receive``'s ``content`` tree. A leaf has ``body`` (transfer-decoded
#: bytes); a multipart node has ``parts``. ``filename``/``disposition`` only when present,
#: ``charset`` only on text leaves. ``opaque`` (True) marks a part nested too deep to be
#: parsed: its ``body`` is the part's raw body, whatever its declared ``content-type``.
ContentPart = TypedDict(
    "ContentPart",
    {
        "content-type": str,
        "body": bytes,
        "parts": list[Any],
        "charset": str,
        "filename": str,
        "disposition": str,
        "opaque": bool,
    },
    total=False,
)

EmailReceive = TypedDict(
    "EmailReceive",
    {
        "from": str | None,
        "to": list[str],
        "headers": dict[str, str | list[str]],
        "subject": str,
        "content": ContentPart,
        "raw": bytes,
        "message_id": str | None,
        "peer": list[Any] | None,
        "helo": str | None,
        "login": str | None,
    },
)


class Attachment(TypedDict, total=False):
    filename: str
    content_type: str
    data: bytes


EmailSend = TypedDict(
    "EmailSend",
    {
        "from": str,
        "to": list[str],
        "subject": str,
        "body": str,
        "html": str,
        "headers": Any,  # {name: value} or [[name, value], ...] (str or bytes)
        "in_reply_to": str,
        "references": list[str],
        "cc": list[str],
        "bcc": list[str],
        "reply_to": str,
        "message_id": str,
        "attachments": list[Attachment],
    },
    total=False,
)


class EmailSendFailed(TypedDict):
    message: dict[str, Any]  # the email.send message as it was received
    error: str
    reason: str  # "invalid", "rejected" or "unreachable"
    code: int | None  # the relay's SMTP code, when it gave one
    attempts: int
    recipients: list[str]  # who did not get it
    message_id: str | None
