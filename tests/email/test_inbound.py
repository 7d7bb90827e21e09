"""Inbound SMTP against the interface on the test's loop: what is accepted, what is
refused and with which code, and what the email.receive message holds."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import pytest

from gateways.layers import get_layer
from tests.email.helpers import connect, send_mail

SIMPLE = (
    b"From: Bob <bob@remote.test>\r\n"
    b"To: alice@example.com\r\n"
    b"Subject: =?utf-8?q?caf=C3=A9_time?=\r\n"
    b"Message-ID: <one@remote.test>\r\n"
    b"\r\n"
    b"Hello Alice\r\n"
)


async def test_greeting_names_the_host_and_ehlo_offers_size(start_email):
    interface = await start_email(smtp_hostname="mx.example.com")

    def talk():
        with connect(interface.port) as client:
            greeting = client.docmd("NOOP")  # connect() already read the 220
            return client.ehlo(), greeting, client.esmtp_features

    (code, _), noop, features = await asyncio.to_thread(talk)
    assert code == 250
    assert noop[0] == 250
    assert features["size"] == str(10 * 1024 * 1024)

    reader, writer = await asyncio.open_connection("127.0.0.1", interface.port)
    banner = await reader.readline()
    writer.close()
    assert banner.startswith(b"220 mx.example.com ESMTP gateways")


async def test_accepted_mail_becomes_email_receive(start_email):
    interface = await start_email()
    refused = await asyncio.to_thread(
        send_mail, interface.port, SIMPLE, "bob@remote.test", ["alice@example.com"]
    )
    assert refused == {}
    channel, message = await interface.layer.receive(["email.receive"], timeout=5)
    assert channel == "email.receive"
    assert message["from"] == "bob@remote.test"
    assert message["to"] == ["alice@example.com"]
    assert message["subject"] == "café time"
    assert message["headers"]["subject"] == "café time"
    assert message["headers"]["from"] == "Bob <bob@remote.test>"
    assert message["message_id"] == "<one@remote.test>"
    assert message["raw"] == SIMPLE
    assert message["peer"][0] == "127.0.0.1"
    assert isinstance(message["peer"][1], int)
    assert message["helo"] == "client.test"
    assert message["login"] is None
    assert message["content"] == {
        "content-type": "text/plain",
        "body": b"Hello Alice\r\n",
        "charset": "us-ascii",
    }


async def test_multipart_with_attachment_is_a_decoded_tree(start_email):
    interface = await start_email()
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "bob@remote.test", "alice@example.com", "files"
    mail.set_content("plain text é\n", charset="utf-8", cte="quoted-printable")
    mail.add_alternative("<p>html</p>\n", subtype="html")
    mail.add_attachment(
        bytes(range(256)), maintype="application", subtype="octet-stream", filename="data.bin"
    )
    mail.add_attachment("notes\n", filename="rapport été.txt")

    raw = mail.as_bytes(policy=SMTP_POLICY)
    await asyncio.to_thread(send_mail, interface.port, raw, "bob@remote.test", ["a@example.com"])
    _, message = await interface.layer.receive(["email.receive"], timeout=5)
    tree = message["content"]
    assert tree["content-type"] == "multipart/mixed"
    alternative, binary, text = tree["parts"]
    assert [p["content-type"] for p in alternative["parts"]] == ["text/plain", "text/html"]
    # Bodies are transfer-decoded (here quoted-printable), line ends as on the wire.
    assert alternative["parts"][0]["body"] == "plain text é\r\n".encode()
    assert alternative["parts"][0]["charset"] == "utf-8"
    assert alternative["parts"][1]["body"] == b"<p>html</p>\r\n"
    assert binary == {
        "content-type": "application/octet-stream",
        "body": bytes(range(256)),  # base64 on the wire, decoded here
        "filename": "data.bin",
        "disposition": "attachment",
    }
    assert text["filename"] == "rapport été.txt"
    assert text["body"] == b"notes\r\n"


async def test_repeated_headers_become_a_list(start_email):
    interface = await start_email()
    raw = b"Received: from a\r\nReceived: from b\r\nSubject: x\r\n\r\nbody\r\n"
    await asyncio.to_thread(send_mail, interface.port, raw, "", ["alice@example.com"])
    _, message = await interface.layer.receive(["email.receive"], timeout=5)
    assert message["headers"]["received"] == ["from a", "from b"]
    assert message["from"] is None  # the null sender <> of bounces
    assert message["message_id"] is None


async def test_other_domains_get_550_and_nothing_is_relayed(start_email):
    interface = await start_email(smtp_domain=["example.com", "example.org"])

    def talk():
        with connect(interface.port) as client:
            client.ehlo()
            client.mail("spammer@remote.test")
            return [
                client.rcpt(address)[0]
                for address in (
                    "victim@elsewhere.test",
                    "alice@example.org",
                    "user@example.com.evil.test",
                    "@example.com",
                    "alice@EXAMPLE.COM",
                )
            ]

    assert await asyncio.to_thread(talk) == [550, 250, 550, 553, 250]
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await asyncio.to_thread(
            send_mail, interface.port, SIMPLE, "a@remote.test", ["x@elsewhere.test"]
        )
    assert refused.value.recipients["x@elsewhere.test"][0] == 550
    assert await interface.layer.receive(["email.receive"], timeout=0.2) == (None, None)


async def test_oversized_mail_gets_552(start_email):
    interface = await start_email(smtp_max_size=1000)
    big = SIMPLE + (b"x" * 76 + b"\r\n") * 20

    def talk():
        with connect(interface.port) as client:
            client.ehlo()
            assert client.esmtp_features["size"] == "1000"
            client.mail("bob@remote.test")
            client.rcpt("alice@example.com")
            return client.data(big)

    code, _ = await asyncio.to_thread(talk)
    assert code == 552
    assert await interface.layer.receive(["email.receive"], timeout=0.2) == (None, None)


async def test_recipients_per_message_are_capped_with_452(start_email):
    interface = await start_email(smtp_max_recipients=3)

    def talk():
        with connect(interface.port) as client:
            client.ehlo()
            client.mail("bob@remote.test")
            codes = [client.rcpt(f"u{i}@example.com")[0] for i in range(6)]
            return codes, client.data(SIMPLE)[0]

    codes, data_code = await asyncio.to_thread(talk)
    assert codes == [250, 250, 250, 452, 452, 452]
    assert data_code == 250
    _, message = await interface.layer.receive(["email.receive"], timeout=5)
    assert message["to"] == ["u0@example.com", "u1@example.com", "u2@example.com"]


async def test_a_flood_of_refused_recipients_closes_the_session(start_email):
    interface = await start_email(smtp_max_recipients=5)

    def talk():
        with connect(interface.port) as client:
            client.ehlo()
            client.mail("bob@remote.test")
            codes = [client.rcpt(f"u{i}@elsewhere.test")[0] for i in range(6)]
            with pytest.raises(smtplib.SMTPServerDisconnected):
                client.rcpt("late@example.com")
            return codes

    assert await asyncio.to_thread(talk) == [550] * 5 + [421]


async def test_full_channel_answers_451_then_accepts_once_drained(start_email):
    layer = get_layer("memory://", channel_capacity={"email.receive": 1})
    interface = await start_email(layer=layer)
    await layer.send("email.receive", {"filler": True})

    def talk():
        with connect(interface.port) as client:
            client.ehlo()
            client.mail("bob@remote.test")
            client.rcpt("alice@example.com")
            return client.data(SIMPLE)

    code, _ = await asyncio.to_thread(talk)
    assert code == 451
    assert await layer.receive(["email.receive"], timeout=1) == ("email.receive", {"filler": True})
    assert (await asyncio.to_thread(talk))[0] == 250
    _, message = await layer.receive(["email.receive"], timeout=5)
    assert message["raw"] == SIMPLE
    await layer.close()


async def test_mail_too_large_for_the_layer_gets_552(start_email):
    layer = get_layer("memory://", max_message_size=2000)
    interface = await start_email(layer=layer)
    body = SIMPLE + (b"y" * 70 + b"\r\n") * 40
    with pytest.raises(smtplib.SMTPDataError) as error:
        await asyncio.to_thread(send_mail, interface.port, body, "b@remote.test", ["a@example.com"])
    assert error.value.smtp_code == 552
    await layer.close()
