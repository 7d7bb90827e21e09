"""Errors a channel layer raises; importable from ``gateways`` and ``gateways.layers``."""


class ChannelFull(Exception):
    """The channel holds as many messages as its capacity allows; the send was refused."""


class MessageTooLarge(ValueError):
    """The encoded message is larger than the layer accepts."""


class LayerUnavailable(ConnectionError):
    """The layer's backing service cannot be reached right now (the caller may retry)."""
