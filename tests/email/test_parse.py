"""email.receive's parse of tricky mail (the same function the SMTP server calls)."""

from __future__ import annotations

from gateways_email import parse as parse_module
from gateways_email.parse import CACHED_VALUE_LIMIT, MAX_DEPTH, POLICY, email_receive


def receive(raw: bytes) -> dict:
    return email_receive(raw, "bob@remote.test", ["alice@example.com"], ("127.0.0.1", 2525))


def test_folded_and_encoded_headers_are_decoded():
    message = receive(
        b"Subject: a long\r\n subject line\r\n"
        b"From: =?iso-8859-1?q?Andr=E9?= <andre@remote.test>\r\n"
        b"X-Utf8: d\xc3\xa9j\xc3\xa0 vu\r\n"  # raw UTF-8 (SMTPUTF8 clients)
        b"\r\nbody\r\n"
    )
    assert message["subject"] == "a long subject line"
    assert message["headers"]["from"] == "André <andre@remote.test>"
    assert message["headers"]["x-utf8"] == "déjà vu"


def test_rfc2231_filename_and_inline_disposition():
    message = receive(
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: image/png\r\n"
        b"Content-Disposition: inline; filename*=utf-8''%C3%A9t%C3%A9.png\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n"
        b'--XX\r\nContent-Type: application/pdf; name="old-style.pdf"\r\n\r\n%PDF\r\n'
        b"--XX--\r\n"
    )
    image, pdf = message["content"]["parts"]
    assert image == {
        "content-type": "image/png",
        "body": b"\x89PNG",
        "filename": "été.png",
        "disposition": "inline",
    }
    assert pdf["filename"] == "old-style.pdf"  # from the Content-Type name parameter
    assert "disposition" not in pdf


def test_enclosed_message_is_kept_as_bytes():
    inner = b"Subject: inner\r\n\r\nforwarded\r\n"
    message = receive(
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: message/rfc822\r\n\r\n" + inner + b"--B--\r\n"
    )
    (part,) = message["content"]["parts"]
    assert part["content-type"] == "message/rfc822"
    # The CRLF before the boundary belongs to the boundary (RFC 2046).
    assert part["body"].replace(b"\r\n", b"\n") == b"Subject: inner\n\nforwarded"


def test_broken_mail_still_arrives_with_what_can_be_read():
    message = receive(
        b'Subject: =?utf-8?b?broken\r\nContent-Type: text/plain; charset="\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n!!not base64!!\r\n"
    )
    assert message["subject"].startswith("=?utf-8?b?broken")
    assert message["content"]["content-type"] == "text/plain"
    assert isinstance(message["content"]["body"], bytes)
    assert message["raw"].startswith(b"Subject:")


def test_no_headers_at_all():
    message = receive(b"just a body\r\n")
    assert message["headers"] == {}
    assert message["subject"] == ""
    assert message["content"]["body"] == b"just a body\r\n"
    assert message["peer"] == ["127.0.0.1", 2525]


def nested_mime(depth: int, kind: str = "multipart") -> bytes:
    """A mail whose parts nest ``depth`` levels deep, a text leaf at the bottom."""
    head = b"From: a@remote.test\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    if kind == "message":
        return head + b"Content-Type: message/rfc822\r\n\r\n" * depth + b"\r\nleaf\r\n"
    opening = b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n'
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    parts = b"".join(opening % (i, i) for i in range(depth))
    return head + parts + b"Content-Type: text/plain\r\n\r\nleaf\r\n" + closing


def levels(node: dict) -> tuple[int, dict]:
    """How many multipart levels lead to the first leaf, and that leaf."""
    depth = 0
    while "parts" in node:
        node, depth = node["parts"][0], depth + 1
    return depth, node


def test_mime_nested_within_the_bound_is_a_whole_tree():
    depth, leaf = levels(receive(nested_mime(MAX_DEPTH))["content"])
    assert depth == MAX_DEPTH
    assert leaf == {"content-type": "text/plain", "body": b"leaf", "charset": "us-ascii"}


def test_mime_nested_450_deep_is_cut_at_the_bound_and_kept_opaque():
    """As reported: a mail nested ~450 deep made the parser raise RecursionError."""
    raw = nested_mime(450)
    message = receive(raw)
    depth, leaf = levels(message["content"])
    assert depth == MAX_DEPTH + 1
    assert leaf["opaque"] is True
    assert leaf["content-type"] == "multipart/mixed"  # as declared, but not parsed
    assert leaf["body"].startswith(b"--b%d\r\n" % (MAX_DEPTH + 1))
    assert b"\r\nleaf\r\n" in leaf["body"]
    assert message["raw"] == raw and message["subject"] == "deep"


def test_enclosed_messages_nested_deep_are_cut_at_the_bound_too():
    """600 message/rfc822 levels raised RecursionError too; now the chain is parsed
    down to the bound and kept as bytes below it."""
    content = receive(nested_mime(600, "message"))["content"]
    assert content["content-type"] == "message/rfc822"
    assert content["body"].count(b"Content-Type: message/rfc822") == 600 - 1
    assert content["body"].rstrip().endswith(b"leaf")


def test_a_header_the_parser_recurses_on_is_kept_as_text():
    """Nested comments made the modern header parser hit the recursion limit."""
    raw = b"Content-Type: text/plain; a=" + b"(" * 5000 + b")" * 5000 + b"\r\n\r\nbody\r\n"
    message = receive(raw)
    assert message["content"] == {
        "content-type": "text/plain",
        "body": b"body\r\n",
        "charset": "us-ascii",
    }
    assert message["headers"]["content-type"].startswith("text/plain; a=((")


def test_header_names_and_long_values_from_the_mail_do_not_fill_the_caches():
    """Names and values are the sender's: header classes are cached per class (a few),
    and a long MIME header value is parsed without being kept."""
    caches = (POLICY.header_factory._structure, parse_module._cached_facts)
    before = [cache.cache_info().currsize for cache in caches]
    names = b"".join(b"X-Name-%d: v\r\n" % i for i in range(2000))
    long_type = b"text/plain; x=" + b"y" * CACHED_VALUE_LIMIT
    message = receive(names + b"Content-Type: " + long_type + b"\r\n\r\nbody\r\n")
    assert message["headers"]["x-name-1999"] == "v"
    assert message["content"]["content-type"] == "text/plain"
    assert POLICY.header_factory._specialised.cache_info().currsize < 50
    assert [cache.cache_info().currsize for cache in caches] == before
