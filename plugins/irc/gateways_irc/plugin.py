"""gateways plugin ``irc``: chat events to ``irc-client.receive`` and lines back.

See docs/irc.md for the messages and options. ``irc`` itself is imported only when an
interface is built: it pulls in heavy dependencies that ``gateways plugins`` need not pay.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateways.plugin import ChannelSpec, Host, Interface, Option, Settings, hookimpl
from gateways_irc import options
from gateways_irc._types import IrcConnection, IrcReceive, IrcReply, IrcSend

#: The channels one network's events are numbered across (in order, per network).
FAMILY = "irc-client"


@hookimpl
def gateways_options() -> Sequence[Option]:
    return options.IrcOptions.declare()


@hookimpl
def gateways_configure(settings: Settings) -> None:
    options.check(settings)


@hookimpl
def gateways_channels() -> Sequence[ChannelSpec]:
    return [
        ChannelSpec(
            "irc-client.receive",
            "produces",
            IrcReceive,
            "chat events, one per line",
            ordered=FAMILY,
        ),
        ChannelSpec("irc-client.reply!", "consumes", IrcReply, "replies (one channel per network)"),
        ChannelSpec("irc-client.send", "consumes", IrcSend, "unsolicited lines to any network"),
        ChannelSpec(
            "irc-client.send.*", "consumes", IrcSend, "sends for one network (on shared layers)"
        ),
        ChannelSpec(
            "irc-client.connect",
            "produces",
            IrcConnection,
            "registered on a network",
            notice=True,
            ordered=FAMILY,
        ),
        ChannelSpec(
            "irc-client.disconnect",
            "produces",
            IrcConnection,
            "lost a network",
            notice=True,
            ordered=FAMILY,
        ),
    ]


@hookimpl
def gateways_interfaces(host: Host) -> Sequence[Interface]:
    from gateways_irc.interface import IrcInterface

    return [IrcInterface(host)]
