"""gateways plugin ``email``: SMTP in (``email.receive``) and mail out (``email.send``).

See docs/email.md for the messages and options.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from gateways_email import options
from gateways_email._types import EmailReceive, EmailSend, EmailSendFailed
from gateways_email.inbound import RECEIVE_CHANNEL
from gateways_email.outbound import FAILED_CHANNEL, SEND_CHANNEL

from gateways import hookimpl
from gateways.config import Option, Settings
from gateways.plugins import ChannelSpec

log = logging.getLogger("gateways.email")


@hookimpl
def gateways_options() -> Sequence[Option]:
    return options.options()


@hookimpl
def gateways_configure(settings: Settings) -> None:
    options.check(settings)


@hookimpl
def gateways_channels() -> Sequence[ChannelSpec]:
    return [
        ChannelSpec(
            RECEIVE_CHANNEL,
            "produces",
            EmailReceive,
            "one accepted mail (durable: at least once on layers that support it)",
        ),
        ChannelSpec(SEND_CHANNEL, "consumes", EmailSend, "mail to deliver via --smtp-relay"),
        ChannelSpec(
            FAILED_CHANNEL,
            "produces",
            EmailSendFailed,
            "an email.send that was refused or could not be delivered after every retry",
        ),
    ]


@hookimpl
def gateways_interfaces(host: Any) -> Sequence[Any]:
    from gateways_email.interface import EmailInterface

    return [EmailInterface(host.settings, host.layer)]


@hookimpl
def gateways_unrouted(message: Any) -> None:
    if message.channel == RECEIVE_CHANNEL:
        # The mail was accepted with 250 already; nobody will see it unless this is fixed.
        log.error(
            "no route handles email.receive: mail %s for %s is dropped",
            message.content.get("message_id"),
            message.content.get("to"),
        )
