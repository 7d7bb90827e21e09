"""STARTTLS (offered, required) and AUTH (only after TLS, optional or required)."""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from gateways.config import ConfigError
from tests.email.conftest import email_settings
from tests.email.helpers import auth_file, connect

MAIL = b"Subject: secret\r\n\r\nover TLS\r\n"


def starttls(tls_files):
    return {"smtp_tls_cert": str(tls_files.cert), "smtp_tls_key": str(tls_files.key)}


async def test_starttls_is_offered_and_mail_flows_over_it(start_email, tls_files):
    interface = await start_email(**starttls(tls_files))

    def talk():
        with connect(interface.port) as client:
            client.ehlo()
            offered = client.has_extn("starttls")
            client.starttls(context=tls_files.client_context())
            cipher = client.sock.cipher()
            client.ehlo()
            client.sendmail("bob@remote.test", ["alice@example.com"], MAIL)
            return offered, cipher

    offered, cipher = await asyncio.to_thread(talk)
    assert offered
    assert cipher is not None
    _, message = await interface.layer.receive(["email.receive"], timeout=5)
    assert message["raw"] == MAIL


async def test_required_tls_refuses_mail_in_clear_text(start_email, tls_files):
    interface = await start_email(**starttls(tls_files), smtp_require_tls=True)

    def talk():
        with connect(interface.port) as client:
            client.ehlo()
            refused = client.mail("bob@remote.test")
            client.starttls(context=tls_files.client_context())
            client.ehlo()
            return refused, client.mail("bob@remote.test")

    refused, accepted = await asyncio.to_thread(talk)
    assert refused[0] == 530
    assert accepted[0] == 250


async def test_auth_needs_tls_then_checks_the_password(start_email, tls_files, tmp_path):
    interface = await start_email(
        **starttls(tls_files),
        smtp_auth_file=auth_file(tmp_path, "alice:s3cret"),
        smtp_auth_required=True,
    )

    def talk():
        with connect(interface.port) as client:
            client.ehlo()
            in_clear = client.docmd("AUTH", "PLAIN AGFsaWNlAHMzY3JldA==")  # \0alice\0s3cret
            unauthenticated = client.mail("bob@remote.test")
            client.starttls(context=tls_files.client_context())
            client.ehlo()
            with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
                client.login("alice", "wrong")
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("mallory", "s3cret")
            client.login("alice", "s3cret")
            client.sendmail("alice@example.com", ["bob@example.com"], MAIL)
            return in_clear[0], unauthenticated[0], wrong.value.smtp_code

    in_clear, unauthenticated, wrong = await asyncio.to_thread(talk)
    assert in_clear == 538  # encryption required for AUTH
    assert unauthenticated == 530
    assert wrong == 535
    _, message = await interface.layer.receive(["email.receive"], timeout=5)
    assert message["login"] == "alice"


async def test_without_an_auth_file_no_auth_is_offered(start_email, tls_files):
    interface = await start_email(**starttls(tls_files))

    def talk():
        with connect(interface.port) as client:
            client.ehlo()
            client.starttls(context=tls_files.client_context())
            client.ehlo()
            return client.has_extn("auth")

    assert await asyncio.to_thread(talk) is False


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ({"smtp_domain": []}, "--smtp-domain is required"),
        ({"smtp_tls_cert": "/etc/hostname"}, "go together"),
        ({"smtp_require_tls": True}, "--smtp-require-tls: needs"),
        ({"smtp_auth_required": True}, "--smtp-auth-required: needs --smtp-auth-file"),
        ({"smtp_auth_file": "/etc/hostname"}, "never taken in clear text"),
        ({"smtp_relay": "no-port"}, "expected HOST:PORT"),
        ({"smtp_domain": ["bad domain"]}, "expected a domain name"),
    ],
)
def test_settings_that_cannot_work_are_refused(given, complaint):
    with pytest.raises(ConfigError, match=complaint):
        email_settings(**given)
