"""Everything a protocol plugin imports, from one place.

A plugin is a module of ``@hookimpl`` functions registered in the entry-point group
``gateways`` (see docs/plugins.md). A typical interface plugin::

    from gateways.plugin import ChannelSpec, Interface, Options, hookimpl, option, port

    class UdpOptions(Options):
        udp_port: int = option("UDP port to listen on", type=port, default=9999)

    @hookimpl
    def gateways_options():
        return UdpOptions.declare()

    @hookimpl
    def gateways_channels():
        return [ChannelSpec("udp.receive", "produces", description="one datagram")]

    @hookimpl
    def gateways_interfaces(host):
        return [UdpInterface(host)]

``Interface`` owns the runtime (receive loop, reply channels, tasks, drain); the plugin
writes the protocol. Names here are the stable contract: what is not listed in
``__all__`` may change between releases.
"""

from __future__ import annotations

from gateways.config import (
    ConfigError,
    Option,
    Options,
    Settings,
    boolean,
    byte_size,
    host_port,
    not_negative,
    option,
    port,
    positive,
)
from gateways.flow import Flow
from gateways.health import NoWorkerNotice
from gateways.hookspecs import hookimpl, hookspec
from gateways.host import Host, InterfaceLike
from gateways.interface import Interface, ReplyCallback, StartFailed
from gateways.layers.base import BaseChannelLayer
from gateways.layers.errors import ChannelFull, LayerUnavailable, MessageTooLarge
from gateways.layers.receiving import receive_forever
from gateways.logguard import Throttled, printable
from gateways.message import DEADLINE_KEY, Message
from gateways.metrics import Tally, Timing, channel_label, counting, register_source
from gateways.plugins import ChannelSpec

__all__ = [
    "DEADLINE_KEY",
    "BaseChannelLayer",
    "ChannelFull",
    "ChannelSpec",
    "ConfigError",
    "Flow",
    "Host",
    "Interface",
    "InterfaceLike",
    "LayerUnavailable",
    "Message",
    "MessageTooLarge",
    "NoWorkerNotice",
    "Option",
    "Options",
    "ReplyCallback",
    "Settings",
    "StartFailed",
    "Tally",
    "Throttled",
    "Timing",
    "boolean",
    "byte_size",
    "channel_label",
    "counting",
    "hookimpl",
    "hookspec",
    "host_port",
    "not_negative",
    "option",
    "port",
    "positive",
    "printable",
    "receive_forever",
    "register_source",
]
