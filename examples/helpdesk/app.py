"""The helpdesk's consumers and routes: ``examples.helpdesk.app:routes``.

A mail to the support address opens a ticket, announced in the IRC channel and pushed to
every open page (WebSocket group ``tickets``); ``!reply <ticket> <text>`` said in the
channel is mailed back to the customer, threaded under the first mail. See README.md.

Settings (environment; the defaults match gateways.toml): HELPDESK_ADDRESS
[support@example.com], HELPDESK_NETWORK [local], HELPDESK_CHANNEL [#helpdesk],
HELPDESK_DB [helpdesk.sqlite3].
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from pathlib import Path

from examples.helpdesk import mail
from examples.helpdesk.tickets import Ticket, TicketStore
from gateways import Message, route

ADDRESS = os.environ.get("HELPDESK_ADDRESS", "support@example.com")
NETWORK = os.environ.get("HELPDESK_NETWORK", "local")
CHANNEL = os.environ.get("HELPDESK_CHANNEL", "#helpdesk")
GROUP = "tickets"  # every page watching
PAGE = (Path(__file__).parent / "page.html").read_bytes()

tickets = TicketStore(os.environ.get("HELPDESK_DB", "helpdesk.sqlite3"))
log = logging.getLogger(__name__)


async def show_page(message: Message) -> None:
    await message.reply(
        {
            "status": 200,
            "headers": [
                [b"content-type", b"text/html; charset=utf-8"],
                [b"cache-control", b"no-cache"],
            ],
            "content": PAGE,
        }
    )


async def watch(message: Message) -> None:
    """A page connects: join the group first, then send what exists, so that no ticket
    falls between the two (one that comes in meanwhile arrives twice; the page keeps one)."""
    await message.layer.group_add(GROUP, message["reply_channel"])
    existing = await asyncio.to_thread(tickets.latest)
    await message.reply({"accept": True, "text": json.dumps({"tickets": existing})})


async def stop_watching(message: Message) -> None:
    await message.layer.group_discard(GROUP, message["reply_channel"])


async def mail_arrived(message: Message) -> None:
    if ADDRESS.lower() not in (to.lower() for to in message["to"]):
        log.info("mail for %s is not for the helpdesk (%s)", message["to"], ADDRESS)
        return
    ticket = await asyncio.to_thread(
        tickets.open,
        mail.sender_of(message),
        message["subject"] or "(no subject)",
        message["message_id"],
        mail.text_of(message["raw"]),
    )
    # A mail delivered again finds its ticket and announces it again: at least once.
    number = ticket["id"]
    await say(
        message,
        f"ticket #{number} from {ticket['sender']}: {ticket['subject']}"
        f" (answer with: !reply {number} <text>)",
    )
    await publish(message, ticket)


async def reply(message: Message, ticket: str, text: str) -> None:
    """``!reply <ticket> <text>`` in the channel: mail ``text`` to the ticket's sender."""
    found = await asyncio.to_thread(tickets.get, int(ticket))
    if found is None:
        await message.reply({"channel": message["channel"], "body": f"no ticket #{ticket}"})
        return
    await message.layer.send("email.send", mail.answer(found, text, message["user"], ADDRESS))
    found = await asyncio.to_thread(tickets.answered, found["id"]) or found
    await message.reply(
        {
            "channel": message["channel"],
            "body": f"ticket #{ticket}: answer sent to {found['sender']}",
        }
    )
    await publish(message, found)


async def network_event(message: Message) -> None:
    """``irc-client.connect`` / ``disconnect``: logged, so the log says when the bot is
    in the channel and when it lost the network."""
    log.info("%s: %s as %s", message.channel, message["network"], message["nick"])


async def ignore(message: Message) -> None:
    """Chatter on IRC, frames from a page (it sends none): nothing to do. Routed so that
    no "no route matches" warning is logged for them."""


async def say(message: Message, text: str) -> None:
    line = {"network": NETWORK, "channel": CHANNEL, "type": "message", "body": text}
    await message.layer.send("irc-client.send", line)


async def publish(message: Message, ticket: Ticket) -> None:
    await message.layer.group_send(GROUP, {"text": json.dumps({"ticket": ticket})})


routes = [
    route("http.request", show_page, path=r"^/$", method=r"^(GET|HEAD)$"),
    route("websocket.connect", watch, path=r"^/tickets$"),
    route("websocket.receive", ignore),
    route("websocket.disconnect", stop_watching, path=r"^/tickets$"),
    route("email.receive", mail_arrived),
    route(
        "irc-client.receive",
        reply,
        type=r"message$",
        channel=re.compile(re.escape(CHANNEL) + "$", re.IGNORECASE),
        body=r"!reply +#?(?P<ticket>\d{1,9}) +(?P<text>\S.*)",
    ),
    route("irc-client.receive", ignore),  # anything else said or done on IRC
    route("irc-client.connect", network_event),
    route("irc-client.disconnect", network_event),
]
