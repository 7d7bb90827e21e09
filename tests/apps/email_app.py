"""Routes for the email tests: each consumer shows one way consumer code uses email.

The subject picks the consumer: ``reply ...`` answers the sender by email (threaded),
``send`` publishes the JSON body as an ``email.send``, ``hold`` stays in flight (to kill
a worker under it), ``irc #channel`` posts to IRC; anything else is logged as
``email app got {json}`` for the test to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from typing import Any

from gateways import route

log = logging.getLogger("email_app")
IRC_NETWORK = os.environ.get("EMAIL_APP_IRC_NETWORK", "")


def text_of(content: dict[str, Any]) -> str:
    """The first text/plain body in a content tree."""
    if "parts" in content:
        return next((t for p in content["parts"] if (t := text_of(p))), "")
    if content.get("content-type") == "text/plain" and "filename" not in content:
        return content["body"].decode(content.get("charset") or "utf-8", "replace")
    return ""


def filenames(content: dict[str, Any]) -> list[str]:
    if "parts" in content:
        return [name for part in content["parts"] for name in filenames(part)]
    return [content["filename"]] if "filename" in content else []


def summary(message: Any) -> dict[str, Any]:
    return {
        "from": message["from"],
        "to": message["to"],
        "subject": message["subject"],
        "message_id": message["message_id"],
        "peer": message["peer"],
        "login": message.content.get("login"),
        "text": text_of(message["content"]),
        "filenames": filenames(message["content"]),
        "raw_size": len(message["raw"]),
        "attempt": message.delivery_attempt,
    }


async def got(message: Any) -> None:
    log.info("email app got %s", json.dumps(summary(message)))


async def reply(message: Any) -> None:
    await message.layer.send(
        "email.send",
        {
            "from": message["to"][0],
            "to": [message["from"]],
            "subject": "Re: " + message["subject"],
            "body": "You wrote:\n" + text_of(message["content"]),
            "html": "<p>You wrote something.</p>",
            "in_reply_to": message["message_id"],
        },
    )
    log.info("email app replied to %s", message["message_id"])


async def send(message: Any) -> None:
    await message.layer.send("email.send", json.loads(text_of(message["content"])))
    log.info("email app published an email.send")


async def hold(message: Any) -> None:
    """Stays in flight on the first delivery (a test kills the worker under it)."""
    if message.redelivered:
        await got(message)
        return
    log.info("email app holding %s attempt %d", message["message_id"], message.delivery_attempt)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.Event().wait(), 30)


async def to_irc(message: Any, channel: str) -> None:
    await message.layer.send(
        "irc-client.send",
        {
            "network": IRC_NETWORK,
            "channel": channel,
            "type": "message",
            "body": f"mail from {message['from']}: {message['subject']}",
        },
    )
    log.info("email app posted to irc %s", channel)


async def failed(message: Any) -> None:
    report = dict(message.content)
    log.info("email app saw a failure %s", json.dumps(report, default=repr))


routes = [
    route("email.receive", reply, subject=r"^reply"),
    route("email.receive", send, subject=r"^send$"),
    route("email.receive", hold, subject=r"^hold"),
    route("email.receive", to_irc, subject=r"^irc (?P<channel>#[\w-]+)"),
    route("email.receive", got),
    route("email.send.failed", failed),
]
