"""The default limits agree: ``gateways serve --plugin email`` with no size setting starts
without a warning, EHLO advertises ``SIZE`` equal to ``--smtp-max-size``, and a mail up
to that size gets through the channel layer to a consumer (memory:// and Redis)."""

from __future__ import annotations

import json
import os
import smtplib
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from gateways_email.interface import layer_size_for
from gateways_email.options import MIB

from gateways.layers import get_layer

pytestmark = pytest.mark.timeout(60)

DEFAULT_SIZE = 10 * MIB
APP = "email_app:routes"


def serve(gateways_process, *flags):
    return gateways_process(
        "serve",
        "--plugin",
        "email",
        *flags,
        "--smtp-port",
        "0",
        "--smtp-domain",
        "example.com",
    )


def attachment_mail(size: int) -> bytes:
    """A mail of about ``size`` bytes: a base64 attachment (decoded to 3/4 of its text)."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "bob@remote.test", "alice@example.com", "big"
    mail.set_content("see attached")
    data = os.urandom(size * 3 // 4)
    mail.add_attachment(data, maintype="application", subtype="pdf", filename="big.pdf")
    return mail.as_bytes(policy=SMTP)


def text_mail(size: int) -> bytes:
    """A mail of exactly ``size`` bytes whose body decodes to itself (the largest
    ``email.receive`` a mail of that size makes: raw text plus an equal decoded body)."""
    head = b"From: bob@remote.test\r\nTo: alice@example.com\r\nSubject: text\r\n\r\n"
    line = b"y" * 78 + b"\r\n"
    body = line * ((size - len(head)) // len(line))
    tail = b"z" * (size - len(head) - len(body) - 2) + b"\r\n"
    return head + body + tail


def deliver(port: int, raw: bytes) -> int:
    """Send ``raw``; the SIZE advertised by EHLO, once the mail got 250."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        advertised = int(client.esmtp_features["size"])
        assert client.sendmail("bob@remote.test", ["alice@example.com"], raw) == {}
    return advertised


def consumed(process, start: int = 0) -> dict:
    return json.loads(process.wait_for(r"email app got (\{.*\})", start=start)[1])


def test_layer_default_fits_the_default_mail_size():
    layer = get_layer("memory://")
    assert layer.max_message_size >= layer_size_for(DEFAULT_SIZE)


def test_defaults_start_without_warning_and_take_a_5_mb_mail(gateways_process):
    process = serve(gateways_process, APP)
    assert " WARNING " not in process.output, process.output
    _, port = process.address("smtp")
    raw = attachment_mail(5_000_000)
    assert deliver(port, raw) == DEFAULT_SIZE
    summary = consumed(process)
    assert (summary["raw_size"], summary["filenames"]) == (len(raw), ["big.pdf"])
    assert process.stop() == 0
    assert " WARNING " not in process.output and " ERROR " not in process.output


def test_a_mail_of_the_advertised_size_is_accepted_end_to_end(gateways_process):
    """The worst case at the limit: plain text, decoded body as large as the mail."""
    process = serve(gateways_process, APP)
    _, port = process.address("smtp")
    raw = text_mail(DEFAULT_SIZE)
    assert deliver(port, raw) == DEFAULT_SIZE
    assert consumed(process)["raw_size"] == len(raw)
    with pytest.raises(smtplib.SMTPResponseException) as refused:  # at MAIL FROM SIZE=
        deliver(port, text_mail(DEFAULT_SIZE + 1024))
    assert refused.value.smtp_code == 552
    assert process.stop() == 0


def test_on_redis_a_5_mb_mail_reaches_a_worker(gateways_process, redis_layer_url):
    worker = gateways_process("worker", APP, "--layer", redis_layer_url)
    process = serve(gateways_process, "--layer", redis_layer_url)
    for started in (worker, process):
        assert " WARNING " not in started.output, started.output
    _, port = process.address("smtp")
    raw = attachment_mail(5_000_000)
    assert deliver(port, raw) == DEFAULT_SIZE
    summary = consumed(worker)
    assert (summary["raw_size"], summary["filenames"]) == (len(raw), ["big.pdf"])
    assert worker.stop() == 0 and process.stop() == 0


def test_a_smaller_layer_limit_is_still_warned_about(gateways_process):
    process = serve(gateways_process, APP, "--layer", "memory://?max_message_size=1048576")
    process.wait_for(r"WARNING .*--smtp-max-size is 10485760 .* to 21037056")
    assert process.stop() == 0
