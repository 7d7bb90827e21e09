"""aiosmtpd, and the outbound relay client, on uvloop (``--loop uvloop``)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from tests.email.test_serve import serve


def test_mail_in_and_the_answer_out_on_uvloop(gateways_process, smtp_relay):
    process = serve(gateways_process, "--loop", "uvloop", relay=smtp_relay)
    assert process.wait_for(r"event loop: (\w+)")[1] == "uvloop"
    host, port = process.address("smtp")
    mail = EmailMessage()
    mail["From"], mail["To"] = "bob@remote.test", "alice@example.com"
    mail["Subject"], mail["Message-ID"] = "reply on uvloop", "<u1@remote.test>"
    mail.set_content("Still there?")
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.send_message(mail)
    (relayed,) = smtp_relay.wait_for(1)
    assert relayed.message["Subject"] == "Re: reply on uvloop"
    assert process.stop() == 0
