"""gateways plugin ``email``: SMTP in (``email.receive``) and mail out (``email.send``).

See docs/email.md for the messages and options.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gateways_email._types import EmailReceive, EmailSend, EmailSendFailed
from gateways_email.inbound import RECEIVE_CHANNEL
from gateways_email.options import EmailOptions, check
from gateways_email.outbound import FAILED_CHANNEL, SEND_CHANNEL

from gateways.plugin import (
    ChannelSpec,
    Host,
    Interface,
    Message,
    Option,
    Settings,
    Throttled,
    hookimpl,
    printable,
)

log = logging.getLogger("gateways.email")
#: A mail flood with no route must not write one line per mail.
unrouted = Throttled(log)


@hookimpl
def gateways_options() -> Sequence[Option]:
    return EmailOptions.declare()


@hookimpl
def gateways_configure(settings: Settings) -> None:
    check(settings)


@hookimpl
def gateways_channels() -> Sequence[ChannelSpec]:
    """All three are durable: mail taken is acknowledged only once handled (at least once
    on layers that support it), so a process killed mid-way loses none."""
    return [
        ChannelSpec(
            RECEIVE_CHANNEL,
            "produces",
            EmailReceive,
            "one accepted mail (durable: at least once on layers that support it)",
            durable=True,
        ),
        ChannelSpec(
            SEND_CHANNEL,
            "consumes",
            EmailSend,
            "mail to deliver via --smtp-relay (durable)",
            durable=True,
        ),
        ChannelSpec(
            FAILED_CHANNEL,
            "produces",
            EmailSendFailed,
            "an email.send that was refused or could not be delivered after every retry",
            durable=True,
            notice=True,
        ),
    ]


@hookimpl
def gateways_interfaces(host: Host) -> Sequence[Interface]:
    from gateways_email.interface import EmailInterface

    return [EmailInterface(host)]


@hookimpl
def gateways_unrouted(message: Message) -> None:
    # Of this plugin's channels only email.receive matters here: an unrouted
    # email.send.failed was already logged when the delivery failed.
    if message.channel == RECEIVE_CHANNEL:
        # The mail was accepted with 250 already; nobody will see it unless this is fixed.
        unrouted.error(
            "unrouted",
            "no route handles email.receive: mail %s for %s is dropped",
            printable(str(message.content.get("message_id"))),
            printable(str(message.content.get("to")), 1000),
        )
