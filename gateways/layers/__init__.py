"""Channel layers: the only thing interface servers and workers share.

``get_layer(url)`` finds the backend for the URL's scheme among the installed plugins
(hook ``gateways_layer_backends``), so a third-party layer is used exactly like the
built-in ones.
"""

from __future__ import annotations

from typing import Any

from gateways.layers.base import (
    BaseChannelLayer,
    validate_channel_name,
    validate_group_name,
)
from gateways.layers.errors import ChannelFull, LayerUnavailable, MessageTooLarge

__all__ = [
    "BaseChannelLayer",
    "ChannelFull",
    "LayerUnavailable",
    "MessageTooLarge",
    "get_layer",
    "layer_backends",
    "validate_channel_name",
    "validate_group_name",
]


def _plugin_host(plugins: Any) -> Any:
    from gateways.plugins import get_plugin_host

    return plugins or get_plugin_host()


def layer_backends(plugins: Any = None) -> dict[str, Any]:
    """Scheme -> factory for every installed layer backend."""
    host = _plugin_host(plugins)
    backends: dict[str, Any] = {}
    for found in host.hook.gateways_layer_backends():
        backends.update(found)
    return backends


def get_layer(url: str, plugins: Any = None, **options: Any) -> BaseChannelLayer:
    """Build a channel layer from a URL such as ``memory://`` or ``redis://host:6379/0``.

    Keyword options override the ones in the URL query (``expiry``, ``capacity``, ...).
    Channels that installed plugins declare durable (``ChannelSpec(durable=True)``) are
    durable on the layer, beside any it is configured with.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"layer URL must look like SCHEME://..., got {url!r}")
    scheme = url.split("://", 1)[0].lower()
    backends = layer_backends(plugins)
    try:
        factory = backends[scheme]
    except KeyError:
        known = ", ".join(f"{s}://" for s in sorted(backends)) or "none"
        raise ValueError(f"no installed layer handles {scheme}:// (installed: {known})") from None
    layer: BaseChannelLayer = factory(url, **options)
    layer.declare_durable(_plugin_host(plugins).durable_channels())
    return layer
