"""One app, every protocol: an email arrives, and a consumer posts it to IRC and to every
page watching the mailbox over a WebSocket.

    gateways serve --plugin http --plugin websocket --plugin email --plugin irc \\
        examples.mail_to_chat:routes --smtp-domain example.com \\
        --irc-server irc.example.net:6697 --irc-tls --irc-nick mailbot \\
        --irc-channel '#mail' --irc-network example

Watch with any WebSocket client on ws://127.0.0.1:8000/mailbox, then send a mail to
anyone@example.com through 127.0.0.1:8025. MAIL_TO_CHAT_NETWORK and MAIL_TO_CHAT_CHANNEL
name the IRC network and channel (defaults: example, #mail).
"""

import json
import os

from gateways import route

NETWORK = os.environ.get("MAIL_TO_CHAT_NETWORK", "example")
CHANNEL = os.environ.get("MAIL_TO_CHAT_CHANNEL", "#mail")
WATCHERS = "mailbox"


async def watch(message):
    await message.layer.group_add(WATCHERS, message.reply_channel)
    await message.reply({"accept": True})


async def stop_watching(message):
    await message.layer.group_discard(WATCHERS, message.reply_channel)


async def mail_arrived(message):
    sender = message["from"] or "(no sender)"
    subject = message["subject"] or "(no subject)"
    await message.layer.send(
        "irc-client.send",
        {
            "network": NETWORK,
            "channel": CHANNEL,
            "type": "message",
            "body": f"mail from {sender}: {subject}",
        },
    )
    news = {"from": sender, "to": message["to"], "subject": subject}
    await message.layer.group_send(WATCHERS, {"text": json.dumps(news)})


routes = [
    route("websocket.connect", watch, path=r"^/mailbox$"),
    route("websocket.disconnect", stop_watching, path=r"^/mailbox$"),
    route("email.receive", mail_arrived),
]
