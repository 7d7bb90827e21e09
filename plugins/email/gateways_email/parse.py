"""Turning the bytes of an accepted mail into the ``email.receive`` message.

The standard library's ``email`` package with the modern policy does the work: it decodes
RFC 2047 headers and RFC 2231 parameters, walks multipart trees and undoes
base64/quoted-printable. Consumers get plain data (str, bytes, lists, dicts) that
crosses any channel layer.

The modern policy is thorough but slow (it re-parses a header on every access, and
builds a new header class each time), which showed as most of the cost per mail. So the
policy used here is ``email.policy.default`` with a header factory that caches those
classes and the parsed MIME structure headers (``Content-Type`` and friends repeat from
mail to mail), and headers that have nothing to decode skip the parser altogether.

Hostile mail must not break it: parts nested deeper than :data:`MAX_DEPTH` levels are
not parsed (each comes as one opaque leaf with its raw body), a header the modern parser
chokes on (it recurses on nested comments) is kept as plain text, and if anything else
still fails, the mail is kept whole as one opaque leaf. :func:`email_receive` never raises.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import functools
import logging
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from typing import Any, NamedTuple

from gateways_email._types import ContentPart, EmailReceive
from gateways_email.words import decode_words

from gateways.plugin import Throttled

log = logging.getLogger("gateways.email")
warn = Throttled(log)

#: MIME levels parsed into a tree; a part deeper than this is one opaque leaf.
MAX_DEPTH = 30
#: The name under which a header that cannot be parsed is kept as unstructured text.
UNPARSED = "x-gateways-unparsed"

#: MIME structure headers: parsed once per distinct value.
CACHED_HEADERS = frozenset(
    {"content-type", "content-disposition", "content-transfer-encoding", "mime-version"}
)
#: Longest header value kept in a cache: the caches hold 512 values, not 512 huge ones.
CACHED_VALUE_LIMIT = 1024


class CachingHeaderRegistry(HeaderRegistry):
    """The standard registry, minus the repeated work (results are immutable)."""

    def __getitem__(self, name: str) -> type[BaseHeader]:
        # The standard registry builds a new class on every call; names come from the
        # mail, so the cache is per class chosen (a few), never per name.
        return self._specialised(self.registry.get(name.lower(), self.default_class))

    @functools.cache  # noqa: B019 - one registry per process, a few classes
    def _specialised(self, header_class: type) -> type[BaseHeader]:
        return type("_" + header_class.__name__, (header_class, self.base_class), {})

    def __call__(self, name: str, value: str) -> BaseHeader:
        try:
            if name.lower() in CACHED_HEADERS and len(value) <= CACHED_VALUE_LIMIT:
                return self._structure(name, value)
            return self[name](name, value)
        except Exception:  # RecursionError on nested comments, or a parser bug
            return self[UNPARSED](name, value)

    @functools.lru_cache(maxsize=512)  # noqa: B019
    def _structure(self, name: str, value: str) -> BaseHeader:
        return self[name](name, value)


class BoundedMessage(EmailMessage):
    """A part that knows how deep it sits. The parser attaches each part to its parent
    before it reads the part's headers and asks its content type; a part past
    :data:`MAX_DEPTH` answers ``application/octet-stream``, so the parser keeps its body
    as bytes instead of descending (no recursion 450 levels deep, and no boundary
    matched against hundreds of open parents on every line)."""

    depth = 0

    def attach(self, payload: Any) -> None:
        if isinstance(payload, BoundedMessage):
            payload.depth = self.depth + 1
        super().attach(payload)

    @property
    def opaque(self) -> bool:
        return self.depth > MAX_DEPTH

    def get_content_type(self) -> str:
        return "application/octet-stream" if self.opaque else self.declared_type()

    def declared_type(self) -> str:
        """The type its headers give, even for an opaque part."""
        facts = self.type_facts()
        return self.get_default_type() if facts is None else facts.content_type

    def type_facts(self) -> TypeFacts | None:
        """What its ``Content-Type`` says (None without one): the parser and
        :func:`content_of` ask several times per part, the answer is worked out once
        per distinct header value."""
        for name, value in self._headers:  # type: ignore[attr-defined]
            if name.lower() == "content-type":
                return type_facts(value) if isinstance(value, str) else facts_of(self)
        return None


POLICY = email.policy.default.clone(
    header_factory=CachingHeaderRegistry(), message_factory=BoundedMessage
)


class TypeFacts(NamedTuple):
    """What one ``Content-Type`` value means, as the standard ``Message`` reads it."""

    content_type: str
    charset: str | None
    #: A ``name=`` parameter: the part may name a file (:func:`content_of`).
    names_file: bool


def facts_of(message: Message) -> TypeFacts:
    """The standard reading of ``message``'s ``Content-Type`` header."""
    return TypeFacts(
        Message.get_content_type(message),
        message.get_content_charset(),
        "name=" in str(message.get("content-type", "")),
    )


def type_facts(value: str) -> TypeFacts:
    """:func:`facts_of` for a part whose (first) ``Content-Type`` header is ``value``:
    a function of that text alone, so worked out once per distinct value."""
    return _cached_facts(value) if len(value) <= CACHED_VALUE_LIMIT else _facts(value)


def _facts(value: str) -> TypeFacts:
    probe = EmailMessage(POLICY)
    probe._headers = [("Content-Type", value)]  # type: ignore[attr-defined] # as parsed
    return facts_of(probe)


_cached_facts = functools.lru_cache(maxsize=512)(_facts)


def decoded_header(name: str, value: str) -> str:
    """The header's text with encoded words decoded; malformed ones fall back to raw text."""
    if value.isascii() and "=?" not in value:
        return value.replace("\r", "").replace("\n", "").strip()  # just unfold
    if is_unstructured(name):
        words = decode_words(value.replace("\r", "").replace("\n", ""))
        if words is not None:
            return words
    try:
        return str(POLICY.header_fetch_parse(name, value))
    except Exception:  # the modern header parser raises on some malformed input
        try:
            return str(email.header.make_header(email.header.decode_header(value)))
        except Exception:
            return value


def is_unstructured(name: str) -> bool:
    """Whether the policy reads header ``name`` as free text (``Subject``, ``X-...``)."""
    header_class: type[BaseHeader] = POLICY.header_factory[name]  # type: ignore[index]
    return issubclass(header_class, UnstructuredHeader)


def headers_of(message: Message) -> dict[str, str | list[str]]:
    """Lower-case names; a repeated header (``received``) becomes a list, in order."""
    headers: dict[str, str | list[str]] = {}
    for name, value in message.raw_items():
        key = name.lower()
        text = decoded_header(name, value)
        seen = headers.get(key)
        if seen is None:
            headers[key] = text
        elif isinstance(seen, list):
            seen.append(text)
        else:
            headers[key] = [seen, text]
    return headers


def content_of(part: Message) -> ContentPart:
    """The part's tree: ``parts`` for multiparts, transfer-decoded ``body`` bytes otherwise."""
    if isinstance(part, BoundedMessage) and part.opaque:
        return {"content-type": part.declared_type(), "body": leaf_body(part, ""), "opaque": True}
    kind = part.get_content_type()
    node: ContentPart = {"content-type": kind}
    maintype = kind.partition("/")[0]
    if maintype == "multipart" and part.is_multipart():
        node["parts"] = [content_of(child) for child in part.iter_parts()]  # type: ignore[attr-defined]
        return node
    node["body"] = leaf_body(part, maintype)
    facts = part.type_facts() if isinstance(part, BoundedMessage) else facts_of(part)
    if maintype == "text":
        node["charset"] = (facts.charset if facts else None) or "us-ascii"
    if "content-disposition" in part or (facts is not None and facts.names_file):
        filename = part.get_filename()
        if filename:
            node["filename"] = filename
        disposition = part.get_content_disposition()
        if disposition:
            node["disposition"] = disposition
    return node


def leaf_body(part: Message, maintype: str) -> bytes:
    if maintype == "message":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return bytes(inner[0].as_bytes(policy=POLICY))
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def parse(raw: bytes) -> EmailMessage:
    message: EmailMessage = email.message_from_bytes(raw, policy=POLICY)
    return message


def email_receive(
    raw: bytes,
    mail_from: str | None,
    rcpt_tos: list[str],
    peer: Any,
    helo: str | None = None,
    login: str | None = None,
) -> EmailReceive:
    """The ``email.receive`` message for one accepted mail."""
    try:
        message = parse(raw)
        headers = headers_of(message)
        content = content_of(message)
    except Exception as exc:  # not seen yet: the mail is kept, unparsed
        warn.warning("unparsed", "could not parse a mail (%s); kept as raw", type(exc).__name__)
        headers, content = {}, {"content-type": "application/octet-stream", "body": raw}
        content["opaque"] = True
    subject = headers.get("subject", "")
    message_id = headers.get("message-id")
    return {
        "from": mail_from if mail_from and mail_from != "<>" else None,
        "to": list(rcpt_tos),
        "headers": headers,
        "subject": subject if isinstance(subject, str) else subject[0],
        "content": content,
        "raw": raw,
        "message_id": message_id.strip() if isinstance(message_id, str) else None,
        "peer": list(peer[:2]) if isinstance(peer, tuple | list) else None,
        "helo": helo,
        "login": login,
    }
