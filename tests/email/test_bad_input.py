"""Hostile and broken SMTP input: clear 5xx answers, nothing smuggled, nobody else hurt."""

from __future__ import annotations

import asyncio

from tests.email.helpers import RawSession, send_mail

HEADERS = b"From: bob@remote.test\r\nTo: alice@example.com\r\nSubject: first\r\n\r\n"


async def envelope(session: RawSession, to: str = "alice@example.com") -> None:
    assert (await session.command("EHLO client.test"))[0] == 250
    assert (await session.command("MAIL FROM:<bob@remote.test>"))[0] == 250
    assert (await session.command(f"RCPT TO:<{to}>"))[0] == 250
    assert (await session.command("DATA"))[0] == 354


async def test_smtp_smuggling_lf_dot_crlf_does_not_end_the_message(start_email):
    """``<LF>.<CRLF>`` inside DATA must not end it: the would-be second mail is not a mail.

    aiosmtpd 1.4.6 only ends DATA on ``<CRLF>.<CRLF>``, so everything up to the real end is
    one message; the interface then refuses that message, because a bare LF could still
    end it early at a lenient server downstream.
    """
    interface = await start_email()
    session = await RawSession.open(interface.port)
    await envelope(session)
    smuggled = (
        HEADERS + b"innocent body\n.\r\n"
        b"MAIL FROM:<ceo@example.com>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n"
        b"Subject: smuggled\r\n\r\npay the invoice\r\n.\r\n"
    )
    code, text = await session.send(smuggled)
    assert code == 550
    assert "Bare CR or LF" in text
    # Exactly one answer came for all of it: the next reply answers our NOOP.
    assert await session.command("NOOP") == (250, "OK")
    assert await interface.layer.receive(["email.receive"], timeout=0.3) == (None, None)
    await session.close()


async def test_bare_cr_and_cr_lf_dot_lf_variants_are_refused(start_email):
    interface = await start_email()
    for body in (b"a\r.\r\nb\r\n", b"a\r\n.\nMAIL FROM:<x@y>\r\n", b"a\rb\r\n"):
        session = await RawSession.open(interface.port)
        await envelope(session)
        code, _ = await session.send(HEADERS + body + b".\r\n")
        assert code == 550, body
        await session.close()
    assert await interface.layer.receive(["email.receive"], timeout=0.2) == (None, None)


async def test_dot_stuffing_is_undone_and_the_session_goes_on(start_email):
    interface = await start_email()
    session = await RawSession.open(interface.port)
    await envelope(session)
    assert (await session.send(HEADERS + b"..leading dot\r\n.\r\n"))[0] == 250
    _, message = await interface.layer.receive(["email.receive"], timeout=5)
    assert message["content"]["body"] == b".leading dot\r\n"
    assert (await session.command("MAIL FROM:<bob@remote.test>"))[0] == 250
    await session.close()


async def test_junk_commands_and_binary_garbage_get_5xx(start_email):
    interface = await start_email()
    session = await RawSession.open(interface.port)
    assert (await session.command("EHLO client.test"))[0] == 250
    code, text = await session.command("FROBNICATE now")
    assert code == 500
    assert "not recognized" in text
    assert (await session.send(b"\x00\xff\xfe\x81garbage\r\n"))[0] == 500
    assert (await session.send(b"MAIL FROM:<\xff\xfe@x>\r\n"))[0] == 553
    assert (await session.command("RCPT TO:<alice@example.com>"))[0] == 503  # no MAIL yet
    assert (await session.command("DATA"))[0] == 503
    assert (await session.send(b"X" * 5000 + b"\r\n"))[0] == 500  # line too long
    await session.close()


async def test_a_garbage_flood_is_disconnected_without_hurting_other_sessions(start_email):
    interface = await start_email()
    good = await RawSession.open(interface.port)
    await envelope(good)
    bad = await RawSession.open(interface.port)
    codes = [(await bad.send(b"\x8f\x00junk %d\r\n" % i))[0] for i in range(20)]
    codes += [(await bad.command(f"BOGUS{i}"))[0] for i in range(5)]
    assert codes[:24] == [500] * 24
    assert codes[24] == 502  # the fifth unknown command: goodbye
    assert await bad.reply() == (0, "")  # and the connection is closed
    # The session that was mid-DATA all along is unaffected.
    assert (await good.send(HEADERS + b"still fine\r\n.\r\n"))[0] == 250
    _, message = await interface.layer.receive(["email.receive"], timeout=5)
    assert message["content"]["body"] == b"still fine\r\n"
    await asyncio.to_thread(
        send_mail,
        interface.port,
        HEADERS + b"new client\r\n",
        "b@remote.test",
        ["alice@example.com"],
    )
    assert (await interface.layer.receive(["email.receive"], timeout=5))[0] == "email.receive"
    await good.close()
    await bad.close()
