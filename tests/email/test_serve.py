"""``gateways serve --plugin email`` as users run it: smtplib and swaks in, consumers
answering by email through a real aiosmtpd relay."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from email.message import EmailMessage

import pytest

from tests.email.helpers import auth_file

APP = "email_app:routes"


def serve(gateways_process, *flags, relay=None, **kwargs):
    args = [
        "serve",
        "--plugin",
        "email",
        APP,
        "--smtp-port",
        "0",
        "--smtp-domain",
        "example.com",
        "--smtp-hostname",
        "mx.example.com",
        *flags,
    ]
    if relay is not None:
        args += ["--smtp-relay", relay.address, "--smtp-relay-backoff", "0.01"]
    return gateways_process(*args, **kwargs)


def got(process, start=0):
    """The summary the app's catch-all consumer logged for the next mail."""
    found = process.wait_for(r"email app got (\{.*\})", start=start)
    return json.loads(found[1])


def swaks(port, *args):
    command = [
        "swaks",
        "--server",
        "127.0.0.1",
        "--port",
        str(port),
        "--helo",
        "client.test",
        "--from",
        "bob@remote.test",
        "--to",
        "alice@example.com",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_smtplib_mail_is_answered_by_email_through_the_relay(gateways_process, smtp_relay, loop):
    """aiosmtpd in and the relay client out, on either event loop (``--loop``)."""
    import smtplib

    process = serve(gateways_process, "--loop", loop, relay=smtp_relay)
    assert process.wait_for(r"event loop: (\w+)")[1] == loop
    host, port = process.address("smtp")
    mail = EmailMessage()
    mail["From"], mail["To"] = "Bob <bob@remote.test>", "alice@example.com"
    mail["Subject"], mail["Message-ID"] = "reply please", "<q1@remote.test>"
    mail.set_content("What time is it?")
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.send_message(mail)

    (relayed,) = smtp_relay.wait_for(1)
    answer = relayed.message
    assert relayed.rcpt_tos == ["bob@remote.test"]
    assert answer["Subject"] == "Re: reply please"
    assert answer["In-Reply-To"] == "<q1@remote.test>"
    assert answer["References"] == "<q1@remote.test>"
    assert "What time is it?" in answer.get_body(("plain",)).get_content()
    assert answer.get_body(("html",)) is not None
    assert process.stop() == 0


def test_swaks_with_an_attachment(gateways_process, tmp_path):
    process = serve(gateways_process)
    _, port = process.address("smtp")
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 not really")
    done = swaks(
        port, "--header", "Subject: quarterly", "--body", "see attached", "--attach", f"@{report}"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "<-  250 2.0.0 OK: queued" in done.stdout
    summary = got(process)
    assert summary["subject"] == "quarterly"
    assert summary["from"] == "bob@remote.test"
    assert summary["to"] == ["alice@example.com"]
    assert summary["text"].strip() == "see attached"
    assert summary["filenames"] == ["report.pdf"]
    assert summary["peer"][0] == "127.0.0.1"
    assert process.stop() == 0


def test_swaks_starttls_and_auth(gateways_process, tls_files, tmp_path):
    process = serve(
        gateways_process,
        "--smtp-tls-cert",
        str(tls_files.cert),
        "--smtp-tls-key",
        str(tls_files.key),
        "--smtp-require-tls",
        "--smtp-auth-file",
        auth_file(tmp_path, "bob:hunter2"),
        "--smtp-auth-required",
    )
    _, port = process.address("smtp")
    clear = swaks(port, "--header", "Subject: clear")
    assert clear.returncode != 0
    assert "530" in clear.stdout
    wrong = swaks(port, "--tls", "--auth", "PLAIN", "--auth-user", "bob", "--auth-password", "no")
    assert "535" in wrong.stdout
    done = swaks(
        port,
        "--tls",
        "--auth",
        "LOGIN",
        "--auth-user",
        "bob",
        "--auth-password",
        "hunter2",
        "--header",
        "Subject: secure",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = got(process)
    assert (summary["subject"], summary["login"]) == ("secure", "bob")
    assert process.stop() == 0


def test_swaks_to_a_foreign_domain_is_refused(gateways_process):
    process = serve(gateways_process)
    _, port = process.address("smtp")
    done = swaks(port, "--to", "someone@elsewhere.test")
    assert done.returncode != 0
    assert "550 5.7.1" in done.stdout
    assert process.stop() == 0
    assert "email app got" not in process.output


def test_a_consumer_header_injection_is_refused_and_reported(gateways_process, smtp_relay):
    import smtplib

    process = serve(gateways_process, relay=smtp_relay)
    host, port = process.address("smtp")
    evil = {
        "from": "alice@example.com",
        "to": ["bob@remote.test"],
        "subject": "hello\r\nBcc: victim@elsewhere.test",
        "body": "x",
    }
    good = {**evil, "subject": "fine"}
    with smtplib.SMTP(host, port, timeout=10) as client:
        for payload in (evil, good):
            client.sendmail(
                "bob@remote.test",
                ["alice@example.com"],
                "Subject: send\r\n\r\n" + json.dumps(payload),
            )
    found = process.wait_for(r"email app saw a failure (\{.*\})")
    report = json.loads(found[1])
    assert report["reason"] == "invalid"
    assert "header injection" in report["error"]
    (relayed,) = smtp_relay.wait_for(1)
    assert relayed.message["Subject"] == "fine"
    assert "refused an email.send message" in process.output
    assert process.stop() == 0


def test_email_plugin_without_a_domain_exits_2(gateways_process):
    process = gateways_process("serve", "--plugin", "email", APP, ready=None)
    assert process.wait() == 2
    assert "--smtp-domain is required" in process.output


def test_sigterm_closes_open_sessions_with_421(gateways_process):
    import smtplib

    process = serve(gateways_process)
    host, port = process.address("smtp")
    client = smtplib.SMTP(host, port, timeout=10)
    assert client.ehlo()[0] == 250
    process.signal(signal.SIGTERM)
    assert process.wait() == 0
    assert client.getreply()[0] == 421
    client.close()


def test_a_busy_smtp_port_names_the_plugin_the_address_and_the_flag(gateways_process):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = serve(gateways_process, "--smtp-port", str(port), ready=None)
        assert process.wait() == 1
    assert f"email: cannot listen on 127.0.0.1:{port} (" in process.output
    assert "address already in use" in process.output.lower()
    assert "choose another with --smtp-port" in process.output
