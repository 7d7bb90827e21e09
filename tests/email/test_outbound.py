"""email.send: the interface delivers through a real aiosmtpd relay, with retries, and
reports what it could not deliver on email.send.failed."""

from __future__ import annotations

import logging

import pytest

from gateways.testing import free_port
from tests.fixtures.smtp import password_authenticator

FAST = {"smtp_relay_backoff": 0.01, "smtp_relay_retries": 3}


def mail(**extra):
    return {
        "from": "Alice <alice@example.com>",
        "to": ["bob@remote.test"],
        "subject": "Re: café",
        "body": "plain body\n",
        **extra,
    }


async def failure(layer):
    channel, report = await layer.receive(["email.send.failed"], timeout=10)
    assert channel == "email.send.failed"
    return report


async def test_mime_message_with_html_threading_and_bcc(start_email, smtp_relay):
    interface = await start_email(smtp_relay=smtp_relay.address, **FAST)
    await interface.layer.send(
        "email.send",
        mail(
            html="<p>html body</p>",
            in_reply_to="<orig@remote.test>",
            references=["<root@remote.test>"],
            cc=["carol@remote.test"],
            bcc=["audit@example.com"],
            headers=[[b"x-ticket", b"42"]],
            attachments=[{"filename": "a.txt", "content_type": "text/plain", "data": b"hi"}],
        ),
    )
    (relayed,) = await smtp_relay.await_for(1)
    assert relayed.mail_from == "alice@example.com"
    assert relayed.rcpt_tos == ["bob@remote.test", "carol@remote.test", "audit@example.com"]
    message = relayed.message
    assert message["From"] == "Alice <alice@example.com>"
    assert message["To"] == "bob@remote.test"
    assert message["Cc"] == "carol@remote.test"
    assert message["Bcc"] is None
    assert message["Subject"] == "Re: café"
    assert message["Message-ID"].endswith("@mx.example.com>")
    assert message["Date"] is not None
    assert message["In-Reply-To"] == "<orig@remote.test>"
    assert message["References"] == "<root@remote.test> <orig@remote.test>"
    assert message["X-Ticket"] == "42"
    assert message.get_content_type() == "multipart/mixed"
    assert message.get_body(("plain",)).get_content() == "plain body\r\n"
    assert message.get_body(("html",)).get_content().strip() == "<p>html body</p>"
    (attachment,) = message.iter_attachments()
    assert attachment.get_filename() == "a.txt"


async def test_header_injection_is_refused_and_reported(start_email, smtp_relay, caplog):
    interface = await start_email(smtp_relay=smtp_relay.address, **FAST)
    for bad in (
        mail(subject="hi\r\nBcc: victim@elsewhere.test"),
        mail(to=["bob@remote.test\nBcc: victim@elsewhere.test"]),
        mail(headers={"X-Evil": "a\rb"}),
        mail(headers={"Bad Name": "x"}),
        mail(in_reply_to="<a@b>\nX: y"),
    ):
        await interface.layer.send("email.send", bad)
        report = await failure(interface.layer)
        assert report["reason"] == "invalid"
        assert report["attempts"] == 0
        assert report["message"]["subject"] == bad["subject"]
    assert "header injection refused" in caplog.text
    # A good message after them is delivered: nothing was sent for the bad ones.
    await interface.layer.send("email.send", mail())
    assert len(await smtp_relay.await_for(1)) == 1
    assert smtp_relay.messages[0].rcpt_tos == ["bob@remote.test"]


async def test_invalid_messages_are_reported_not_sent(start_email, smtp_relay):
    interface = await start_email(smtp_relay=smtp_relay.address, **FAST)
    for bad, why in (
        ({"to": ["bob@remote.test"], "body": "x"}, "needs 'from'"),
        (mail(to=[]), "at least one recipient"),
        (mail(to="not an address"), "not an email address"),
        (mail(body=b"bytes"), "must be str"),
    ):
        await interface.layer.send("email.send", bad)
        report = await failure(interface.layer)
        assert why in report["error"]


async def test_4xx_answers_are_retried_with_backoff(start_email, smtp_relay, caplog):
    caplog.set_level(logging.INFO)
    smtp_relay.data_answers.extend(["451 4.3.0 try later", "421 4.3.2 busy"])
    interface = await start_email(smtp_relay=smtp_relay.address, **FAST)
    await interface.layer.send("email.send", mail())
    (relayed,) = await smtp_relay.await_for(1)
    assert relayed.rcpt_tos == ["bob@remote.test"]
    assert smtp_relay.refused == 2
    assert "try 2 of 3" in caplog.text
    assert "try 3 of 3" in caplog.text


async def test_5xx_is_not_retried(start_email, smtp_relay):
    smtp_relay.data_answers.extend(["554 5.7.1 spam", "250 would be fine"])
    interface = await start_email(smtp_relay=smtp_relay.address, **FAST)
    await interface.layer.send("email.send", mail())
    report = await failure(interface.layer)
    assert (report["reason"], report["code"], report["attempts"]) == ("rejected", 554, 1)
    assert report["recipients"] == ["bob@remote.test"]
    assert smtp_relay.refused == 1
    assert smtp_relay.messages == []


async def test_after_the_last_try_the_failure_is_logged_and_published(start_email, caplog):
    closed = free_port()  # nothing listens there: connections are refused
    interface = await start_email(smtp_relay=f"127.0.0.1:{closed}", **FAST)
    await interface.layer.send("email.send", mail())
    report = await failure(interface.layer)
    assert report["reason"] == "unreachable"
    assert report["attempts"] == 3
    assert report["message_id"].endswith("@mx.example.com>")
    assert "could not deliver" in caplog.text


async def test_recipients_are_retried_or_reported_one_by_one(start_email, smtp_relay):
    smtp_relay.rcpt_answers["gone@remote.test"] = "550 5.1.1 no such user"
    smtp_relay.rcpt_answers["later@remote.test"] = "450 4.2.1 mailbox busy"
    interface = await start_email(smtp_relay=smtp_relay.address, **FAST)
    await interface.layer.send(
        "email.send", mail(to=["bob@remote.test", "gone@remote.test", "later@remote.test"])
    )
    report = await failure(interface.layer)
    assert (report["reason"], report["recipients"]) == ("rejected", ["gone@remote.test"])
    (relayed,) = await smtp_relay.await_for(1)
    assert relayed.rcpt_tos == ["bob@remote.test"]
    smtp_relay.rcpt_answers.pop("later@remote.test")  # the busy mailbox frees up
    relayed = (await smtp_relay.await_for(2))[1]
    assert relayed.rcpt_tos == ["later@remote.test"]


async def test_relay_with_starttls_and_auth(start_email, make_smtp_relay, tls_files, tmp_path):
    relay = make_smtp_relay(
        tls_context=tls_files.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=password_authenticator("gw", "pw"),
    )
    secret = tmp_path / "relay-password"
    secret.write_text("pw\n")
    interface = await start_email(
        smtp_relay=relay.address,
        smtp_relay_starttls=True,
        smtp_relay_ca=str(tls_files.cert),
        smtp_relay_user="gw",
        smtp_relay_password_file=str(secret),
        **FAST,
    )
    await interface.layer.send("email.send", mail())
    (relayed,) = await relay.await_for(1)
    assert relayed.login == "gw"


async def test_on_redis_a_retried_send_is_never_delivered_twice(
    start_email, smtp_relay, redis_layer_url, caplog
):
    """email.send is durable; retries that outlast the visibility timeout take the
    message over (ack) first, so the layer does not hand it to another process too."""
    from gateways.layers import get_layer

    caplog.set_level(logging.INFO)
    layer = get_layer(redis_layer_url + "?visibility_timeout=1&durable_poll=0.05")
    smtp_relay.data_answers.append("451 4.3.0 later")
    # The backoff (1.5 s) outlasts the visibility timeout (1 s).
    interface = await start_email(
        layer=layer, smtp_relay=smtp_relay.address, smtp_relay_backoff=1.5
    )
    await layer.send("email.send", mail(subject="once"))
    (relayed,) = await smtp_relay.await_for(1)
    assert relayed.message["Subject"] == "once"
    assert "taking the message over" in caplog.text
    # Two visibility timeouts later, still exactly one delivery (time is the behaviour here).
    with pytest.raises(AssertionError, match="relay got 1 of 2"):
        await smtp_relay.await_for(2, timeout=2.0)
    await interface.drain(1.0)
    await layer.close()
