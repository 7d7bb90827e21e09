"""The SMTP access log (logger ``gateways.email.access``): one line per transaction,
from ``gateways serve --plugin email`` talked to with smtplib."""

from __future__ import annotations

import json
import smtplib

import pytest

from tests.email.test_serve import serve

ACCESS = "gateways.email.access"
RAW = b"From: bob@remote.test\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nHello.\r\n"


def access_records(process) -> list[dict]:
    records = [json.loads(line) for line in process.lines if line.startswith("{")]
    return [record for record in records if record["logger"] == ACCESS]


def test_an_accepted_mail_is_one_json_line_with_its_envelope(gateways_process):
    process = serve(gateways_process, "--log-format", "json")
    host, port = process.address("smtp")
    with smtplib.SMTP(host, port, local_hostname="client.test", timeout=10) as client:
        client.sendmail("bob@remote.test", ["alice@example.com", "carol@example.com"], RAW)
        peer = "{}:{}".format(*client.sock.getsockname()[:2])
    process.wait_for(r'"logger": "gateways.email.access"')
    [line] = access_records(process)
    assert line["level"] == "INFO"
    assert line["peer"] == peer
    assert line["helo"] == "client.test"
    assert line["mail_from"] == "bob@remote.test"
    assert line["rcpt_tos"] == ["alice@example.com", "carol@example.com"]
    assert line["size"] == len(RAW)
    assert line["code"] == 250
    assert line["answer"].startswith("250 ")
    assert line["message"] == (
        f"{peer} helo=client.test from=<bob@remote.test> "
        f"to=<alice@example.com>,<carol@example.com> size={len(RAW)} answer={line['answer']}"
    )


def test_a_mail_over_the_size_limit_is_logged_with_its_answer(gateways_process):
    process = serve(gateways_process, "--smtp-max-size", "1024")
    host, port = process.address("smtp")
    big = RAW + b"x" * 2000 + b"\r\n"
    with smtplib.SMTP(host, port, local_hostname="client.test", timeout=10) as client:
        with pytest.raises(smtplib.SMTPSenderRefused):  # smtplib declares SIZE= first
            client.sendmail("bob@remote.test", ["alice@example.com"], big)
        client.rset()
        client.sendmail("bob@remote.test", ["alice@example.com"], RAW)
    refused = process.wait_for(rf"{ACCESS}: .* from=<bob@remote.test> to=- size=(\d+) answer=552")
    assert int(refused[1]) == len(big)
    process.wait_for(rf"{ACCESS}: .* to=<alice@example.com> size={len(RAW)} answer=250 ")
