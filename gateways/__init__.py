"""gateways: interface servers, channel layers and workers for many protocols."""

from gateways.hookspecs import hookimpl
from gateways.layers.errors import ChannelFull, LayerUnavailable, MessageTooLarge
from gateways.message import Message, SyncMessage
from gateways.routing import Router, include, route

__version__ = "0.1.0"

__all__ = [
    "ChannelFull",
    "LayerUnavailable",
    "Message",
    "MessageTooLarge",
    "Router",
    "SyncMessage",
    "__version__",
    "hookimpl",
    "include",
    "route",
]
