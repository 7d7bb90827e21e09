"""Attacks on the SMTP server's log and parser, from real clients over loopback.

Control characters a client sends reach the log escaped, a flood of refused mail or
bogus commands writes one WARNING line a minute (with counts), and a mail nested
~450 MIME levels deep is still accepted (250) and delivered, its deep parts opaque.
"""

from __future__ import annotations

import asyncio
import logging
import re

from gateways_email.parse import MAX_DEPTH

from tests.email.helpers import RawSession, send_mail
from tests.email.test_bad_input import HEADERS, envelope
from tests.email.test_parse import levels, nested_mime

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
EVIL = "\x1b[31m\x1b]0;owned\x07"


def messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def no_raw_control_characters(caplog) -> None:
    for text in messages(caplog):
        assert not CONTROL.search(text), text


def no_tracebacks(caplog) -> None:
    for record in caplog.records:
        assert not record.exc_info and "Traceback" not in record.getMessage(), record


async def test_a_mail_nested_450_deep_is_accepted_and_delivered(start_email, caplog):
    interface = await start_email()
    raw = nested_mime(450)
    refused = await asyncio.to_thread(
        send_mail, interface.port, raw, "a@remote.test", ["alice@example.com"]
    )
    assert refused == {}  # 250 for every recipient
    _, message = await interface.layer.receive(["email.receive"], timeout=5)
    depth, leaf = levels(message["content"])
    assert (depth, leaf["opaque"]) == (MAX_DEPTH + 1, True)
    assert message["raw"] == raw
    no_tracebacks(caplog)
    assert "RecursionError" not in caplog.text


async def test_client_control_characters_are_escaped_in_every_log_line(start_email, caplog):
    caplog.set_level(logging.INFO)
    interface = await start_email()
    session = await RawSession.open(interface.port)
    assert (await session.command(f"EHLO {EVIL}"))[0] == 250
    assert (await session.command(f"{EVIL}BOGUS"))[0] == 500  # aiosmtpd: "unrecognised"
    assert (await session.command(f"MAIL FROM:<{EVIL}@remote.test>"))[0] == 501  # logged
    assert (await session.command("MAIL FROM:<bob@remote.test>"))[0] == 250
    assert (await session.command(f"RCPT TO:<{EVIL}@elsewhere.test>"))[0] >= 500
    assert (await session.command("RCPT TO:<alice@example.com>"))[0] == 250
    assert (await session.command("DATA"))[0] == 354
    assert (await session.send(HEADERS + b"body\r\n.\r\n"))[0] == 250
    await session.close()
    found = messages(caplog)
    assert any("\\x1b[31M" in text and "unrecognised" in text for text in found), found
    assert any("helo=\\x1b[31m\\x1b]0;owned\\x07" in text for text in found), (
        found
    )  # the access log line, escaped
    no_raw_control_characters(caplog)


async def test_a_flood_of_bad_mail_writes_one_warning_line(start_email, caplog):
    """As reported: one WARNING per refused message (9,836 lines for one flood)."""
    interface = await start_email()
    session = await RawSession.open(interface.port)
    for _ in range(30):
        await envelope(session)
        code, _ = await session.send(HEADERS + b"bare\nLF\r\n.\r\n")
        assert code == 550
    for i in range(30):  # aiosmtpd's own warnings: one unknown command each, new sessions
        bogus = await RawSession.open(interface.port)
        assert (await bogus.command(f"JUNK{i}"))[0] == 500
        await bogus.close()
    # The server still takes good mail.
    assert (await session.command("RSET"))[0] == 250
    await envelope(session)
    assert (await session.send(HEADERS + b"fine\r\n.\r\n"))[0] == 250
    await session.close()
    bare = [text for text in messages(caplog) if "bare CR or LF" in text]
    unknown = [text for text in messages(caplog) if "unrecognised" in text]
    assert (len(bare), len(unknown)) == (1, 1), (bare, unknown)
    assert all(r.levelno == logging.WARNING for r in caplog.records if "bare CR" in r.message)
    no_tracebacks(caplog)
