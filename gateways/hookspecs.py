"""The hooks a gateways plugin can implement, in the order of a process's life.

Plugins are found through the ``gateways`` entry-point group (see docs/plugins.md).
Implement any subset with ``@gateways.hookimpl``. Hooks that do I/O may return an
awaitable; the caller awaits it on the process's one event loop.

Lifecycle:

1. registration  -- ``gateways_addhooks``, ``gateways_options``, ``gateways_channels``
2. configuration -- ``gateways_configure``
3. layers        -- ``gateways_layer_backends``
4. serving       -- ``gateways_interfaces``, ``gateways_host_started``
5. stopping      -- ``gateways_host_stopping`` (then each interface's ``drain``)
6. workers       -- ``gateways_unrouted``, ``gateways_consumer_failed``
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from gateways.config import Option, Settings
    from gateways.host import Host, InterfaceLike
    from gateways.layers.base import BaseChannelLayer
    from gateways.message import Message
    from gateways.plugins import ChannelSpec

PROJECT = "gateways"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

LayerFactory = Callable[..., "BaseChannelLayer"]


# -- 1. registration ------------------------------------------------------------------


@hookspec(historic=True)
def gateways_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add a plugin's own hookspecs (``pluginmanager.add_hookspecs(module)``).

    Called once every installed plugin is registered, so one plugin can extend another:
    the http plugin declares the hook the websocket plugin implements to take over
    ``Upgrade: websocket`` requests.
    """


@hookspec
def gateways_options() -> Sequence[Option]:
    """Declare settings. Each becomes a ``--flag``, a ``GATEWAYS_*`` variable and a key
    of the ``--config`` TOML file, with one parser and one error format for all three.
    """
    return ()


@hookspec
def gateways_channels() -> Sequence[ChannelSpec]:
    """Describe the channels a plugin produces and consumes, with their message types.

    ``gateways plugins`` lists them, and the docs are generated from the same records.
    """
    return ()


# -- 2. configuration -----------------------------------------------------------------


@hookspec
def gateways_configure(settings: Settings) -> None:
    """Check settings as a whole once they are read (flags, environment, file).

    Called on the core and on the plugins chosen with ``--plugin`` only. Raise
    ``settings.error(name, problem)`` (a :class:`gateways.config.ConfigError` that names
    the flag, variable or file key the value came from); the command exits 2.
    """


# -- 3. layers ------------------------------------------------------------------------


@hookspec
def gateways_layer_backends() -> Mapping[str, LayerFactory]:
    """Map URL schemes to layer factories: ``{"redis": from_url}``.

    A factory takes ``(url, **options)`` and returns a
    :class:`~gateways.layers.base.BaseChannelLayer`; ``get_layer`` picks one by scheme.
    """
    return {}


# -- 4. serving -----------------------------------------------------------------------


@hookspec
def gateways_interfaces(host: Host) -> Sequence[InterfaceLike] | None:
    """Build this plugin's interfaces for ``gateways serve``.

    Only called on the plugins chosen with ``--plugin``. The host starts each returned
    interface (a :class:`gateways.plugin.Interface`) and, on SIGTERM, drains it.
    """


@hookspec
def gateways_host_started(host: Host) -> Awaitable[None] | None:
    """Every interface is listening and the embedded workers (if any) run."""


# -- 5. stopping ----------------------------------------------------------------------


@hookspec
def gateways_host_stopping(host: Host, grace: float) -> Awaitable[None] | None:
    """The host got SIGTERM/SIGINT and is about to drain its interfaces within ``grace``
    seconds, then stop its workers.
    """


# -- 6. workers -----------------------------------------------------------------------


@hookspec
def gateways_unrouted(message: Message) -> Awaitable[None] | None:
    """No route matched ``message``. The protocol that owns its channel may answer
    (HTTP: 404 at once) instead of leaving the client to time out.

    Called only on the plugin whose ``ChannelSpec`` produces ``message.channel``.
    """


@hookspec
def gateways_consumer_failed(message: Message, error: BaseException) -> Awaitable[None] | None:
    """A consumer raised while handling ``message`` (already logged with its traceback).

    The owning protocol turns it into an answer: HTTP 500 if nothing was sent yet,
    WebSocket close 1011. ``message.replied`` tells whether the consumer replied.

    Called only on the plugin whose ``ChannelSpec`` produces ``message.channel``.
    """


def all_hook_names() -> list[str]:
    """The core hooks, in lifecycle order (for docs and the hook meta-test)."""
    return [name for name in globals() if name.startswith("gateways_")]


__all__ = ["PROJECT", "all_hook_names", "hookimpl", "hookspec"]
