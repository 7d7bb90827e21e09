"""An email arriving makes a consumer post to IRC (``irc-client.send``): a real ngircd,
the irc plugin in the same ``serve`` process, and a raw-socket user in the channel."""

from __future__ import annotations

import smtplib


def test_an_email_makes_a_consumer_post_to_irc(gateways_process, ircd, irc_user):
    watcher = irc_user(ircd, "watcher", channels=["#mail"])
    mark = watcher.mark()
    process = gateways_process(
        "serve",
        "--plugin",
        "email",
        "--plugin",
        "irc",
        "email_app:routes",
        "--smtp-port",
        "0",
        "--smtp-domain",
        "example.com",
        "--irc-server",
        ircd.address,
        "--irc-nick",
        "mailbot",
        "--irc-channel",
        "#mail",
        "--irc-network",
        "testnet",
        env={"EMAIL_APP_IRC_NETWORK": "testnet"},
    )
    watcher.wait_for(r"^:mailbot!\S+ JOIN :?#mail", start=mark)
    host, port = process.address("smtp")
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.sendmail(
            "bob@remote.test", ["alice@example.com"], "Subject: irc #mail\r\n\r\nsee IRC\r\n"
        )
    (posted,) = watcher.wait_messages("mailbot", 1, start=mark)
    assert posted.raw.endswith("PRIVMSG #mail :mail from bob@remote.test: irc #mail")
    assert process.stop() == 0
