"""The cheap paths of the inbound email code give exactly what the full parsers give:
addresses in MAIL/RCPT (aiosmtpd's own reading), encoded-word subjects (the modern
header parser), Content-Type facts (the standard ``Message`` methods) and the bare
CR/LF check (the regular expression it replaced)."""

from __future__ import annotations

import email
import email.header
import email.policy
import itertools
import re

import pytest
from aiosmtpd.smtp import SMTP
from gateways_email.inbound import has_bare_line_end
from gateways_email.parse import POLICY, decoded_header, facts_of, type_facts
from gateways_email.session import GatewaysSMTP, plain_path
from gateways_email.words import decode_words

ADDRESSES = [
    "<bench@remote.test>",
    "<a@b> SIZE=100",
    "<a@b>  \t SIZE=1 BODY=8BITMIME",
    "<a@b>(comment) SIZE=1",
    "<a@b> (comment)",
    '<"quoted local"@b.test>',
    "<a@[192.0.2.1]>",
    "<a..b@c.test>",
    "<.a@b.test>",
    "<a@b.test.>",
    "<=?utf-8?q?x?=@b.test>",
    "<bounce+x=y@b.test>",
    "<>",
    "<@relay.test:a@b.test>",
    "a@b.test",
    " <a@b.test>",
    "<a@b.test",
    "<a b@c.test>",
    "<é@b.test>",
    "<a@é.test>",
    "<a@b.test>x",
    "<a@b.test><c@d.test>",
    "<a-b+c_d'e@x-y.z>",
    "<a@-b.test>",
    "<a@b..test>",
    "<UPPER@CASE.TEST>",
    "",
]


@pytest.mark.parametrize("limit", [0, 3])
def test_plain_addresses_read_as_aiosmtpd_reads_them(limit):
    ours, theirs = GatewaysSMTP(object()), SMTP(object())
    ours.local_part_limit = theirs.local_part_limit = limit
    for arg in ADDRESSES:
        assert ours._getaddr(arg) == theirs._getaddr(arg), arg
    assert plain_path("<bench@remote.test> SIZE=9") == ("bench@remote.test", "SIZE=9")
    assert plain_path('<"q"@b.test>') is None  # the full parser decides


def test_generated_addresses_read_as_aiosmtpd_reads_them():
    ours, theirs = GatewaysSMTP(object()), SMTP(object())
    pieces = ["a", ".", "=?", "-", "'", "@", "(", " ", ">"]
    for local, domain, tail in itertools.product(
        ("".join(p) for p in itertools.product(pieces[:5], repeat=2)),
        ("b", "b.c", ".b", "b-"),
        ("", " ", " X=1", "(c)", " (c) Y", ">"),
    ):
        arg = f"<{local}@{domain}>{tail}"
        assert ours._getaddr(arg) == theirs._getaddr(arg), arg


ENCODED = [
    "=?utf-8?q?benchmark_caf=C3=A9?=",
    "=?UTF-8?B?Y2Fmw6k=?=",
    "=?utf-8?q?a?= =?utf-8?q?b?=",
    "=?utf-8?q?a?=\t=?iso-8859-1?q?=E9?=",
    "=?utf-8*en?q?lang?=",
    "=?utf-8?q?=41?=",
    "=?utf-8?q??=",
    "=?bogus?q?x?=",  # unknown charset: a defect, the parser decides
    "=?utf-8?b?Y2Fmw6k?=",  # padding missing: a defect
    "=?unicode_escape?q?\\ud800?=",  # a lone surrogate: sanitised by the header class
    "=?idna?q?xn--?=",
    "=?utf-8?q?a?= plain",
    "plain =?utf-8?q?a?=",
    "=?utf-8?q?a?= ",
    "=?utf-8?q?a?=x",
    "=?utf-8?q?a b?=",
]


def full_parse(name: str, value: str) -> str:
    """What :func:`decoded_header` gives without its shortcut."""
    try:
        return str(POLICY.header_fetch_parse(name, value))
    except Exception:
        try:
            return str(email.header.make_header(email.header.decode_header(value)))
        except Exception:
            return value


@pytest.mark.parametrize("value", ENCODED)
def test_encoded_words_decode_as_the_header_parser_does(value):
    expected = full_parse("Subject", value)
    found = decode_words(value)
    assert found is None or found == expected
    assert decoded_header("Subject", value) == expected


def test_encoded_words_shortcut_covers_the_common_subjects_only():
    assert decode_words("=?utf-8?q?benchmark_caf=C3=A9?=") == "benchmark café"
    assert decode_words("=?utf-8?q?a?= =?utf-8?q?b?=") == "ab"
    assert decode_words("=?bogus?q?x?=") is None
    assert decode_words("=?utf-8?q?a?= plain") is None
    # Structured headers keep going through their own parser.
    assert decoded_header("From", "=?utf-8?q?Zo=C3=AB?= <z@x.test>") == "Zoë <z@x.test>"


CONTENT_TYPES = [
    "text/plain",
    "text/plain; charset=utf-8",
    'TEXT/Plain ; CharSet="ISO-8859-1"',
    "text/plain; charset*=utf-8''latin-1",
    'application/pdf; name="r\u00e9sum\u00e9.pdf"',
    "application/octet-stream; name*=utf-8''%E2%82%AC.bin",
    "textplain",
    "multipart/mixed; boundary=x",
    "text/plain; charset=\u00e9",
    "text/plain; a=" + "(" * 50 + ")" * 50,
]


@pytest.mark.parametrize("value", CONTENT_TYPES)
def test_content_type_facts_are_the_standard_reading(value):
    raw = f"Content-Type: {value}\r\n\r\nbody\r\n".encode("utf-8", "surrogateescape")
    standard = email.message_from_bytes(raw, policy=email.policy.default)
    ((_, as_parsed),) = standard.raw_items()
    assert type_facts(as_parsed) == facts_of(standard)


def test_bare_line_ends_are_found_as_the_regular_expression_finds_them():
    pattern = re.compile(rb"\r(?!\n)|(?<!\r)\n")
    for length in range(7):
        for data in itertools.product((b"a", b"\r", b"\n", b"."), repeat=length):
            raw = b"".join(data)
            assert has_bare_line_end(raw) == (pattern.search(raw) is not None), raw
