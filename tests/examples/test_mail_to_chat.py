"""The product in one test: ``examples/mail_to_chat.py`` under ``gateways serve`` with all
four plugins. A mail sent with smtplib reaches a person in a real ngircd channel and a
browser-like WebSocket client, through one consumer."""

from __future__ import annotations

import json
import smtplib
from pathlib import Path

from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ("--plugin", "http", "--plugin", "websocket", "--plugin", "email", "--plugin", "irc")


def test_an_email_reaches_irc_and_a_live_websocket_page(gateways_process, ircd, irc_user):
    person = irc_user(ircd, "person", channels=["#mail"])
    mark = person.mark()
    process = gateways_process(
        "serve",
        "examples.mail_to_chat:routes",
        *PLUGINS,
        *("--http-port", "0", "--smtp-port", "0", "--smtp-domain", "example.com"),
        *("--irc-server", ircd.address, "--irc-nick", "mailbot", "--irc-channel", "#mail"),
        *("--irc-network", "testnet"),
        env={"MAIL_TO_CHAT_NETWORK": "testnet", "PYTHONPATH": str(ROOT)},
        cwd=str(ROOT),
    )
    person.wait_for(r"^:mailbot!\S+ JOIN :?#mail", start=mark)
    http_host, http_port = process.address("http")
    with connect(f"ws://{http_host}:{http_port}/mailbox", open_timeout=10) as page:
        smtp_host, smtp_port = process.address("smtp")
        with smtplib.SMTP(smtp_host, smtp_port, timeout=10) as client:
            client.sendmail(
                "bob@remote.test", ["alice@example.com"], "Subject: lunch?\r\n\r\nat noon\r\n"
            )
        news = json.loads(page.recv(timeout=10))
    assert news == {"from": "bob@remote.test", "to": ["alice@example.com"], "subject": "lunch?"}
    (posted,) = person.wait_messages("mailbot", 1, start=mark)
    assert posted.raw.endswith("PRIVMSG #mail :mail from bob@remote.test: lunch?")
    assert process.stop() == 0
