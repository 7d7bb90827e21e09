"""The hooks a gateways plugin can implement, in the order of a process's life.

A plugin is a module of functions marked ``@hookimpl`` (from :mod:`gateways.plugin`),
registered in the entry-point group ``gateways``; it implements any subset of these.
A hook that does I/O may return an awaitable: the caller awaits it on the process's one
event loop.

1. registration: ``gateways_addhooks``, ``gateways_options``, ``gateways_channels``
2. configuration: ``gateways_configure``
3. layers: ``gateways_layer_backends``
4. serving: ``gateways_interfaces``, ``gateways_host_started``
5. stopping: ``gateways_host_stopping`` (then each interface's ``drain``)
6. workers: ``gateways_unrouted``, ``gateways_consumer_failed``
"""

# The docs site renders these docstrings as its hook reference (docs/hooks.md): what a
# hook promises is written here, once.

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
    """Add a plugin's own hookspecs: ``pluginmanager.add_hookspecs(module)``, the
    functions of ``module`` marked with ``@hookspec`` from :mod:`gateways.plugin`.

    Called once every installed plugin is registered, and (historic) on plugins
    registered later too, so one plugin can extend another: the http plugin declares
    ``gateways_http_upgrade`` here, which the websocket plugin implements to take over
    ``Upgrade: websocket`` requests. Other plugins call such a hook through
    ``host.hook``.
    """


@hookspec
def gateways_options() -> Sequence[Option]:
    """Declare settings, usually ``return YourOptions.declare()`` (an ``Options`` class).

    Each becomes a ``--flag``, a ``GATEWAYS_*`` variable and a key of the ``--config``
    TOML file, with one parser and one error format for all three.
    """
    return ()


@hookspec
def gateways_channels() -> Sequence[ChannelSpec]:
    """Describe the channels a plugin produces and consumes, with their message types.

    ``gateways plugins`` lists them. The records also decide who answers for a message
    (the worker hooks reach only the plugin that produces its channel) and which
    channels are durable (``ChannelSpec(..., durable=True)``), on every layer.
    """
    return ()


# -- 2. configuration -----------------------------------------------------------------


@hookspec
def gateways_configure(settings: Settings) -> None:
    """Check settings as a whole once they are read (flags, environment, file).

    Called on the core and on the plugins chosen with ``--plugin`` only. Raise
    ``settings.error(name, problem)`` (a :class:`~gateways.plugin.ConfigError` that
    names the flag, variable or file key the value came from); the command prints it
    and exits 2.
    """


# -- 3. layers ------------------------------------------------------------------------


@hookspec
def gateways_layer_backends() -> Mapping[str, LayerFactory]:
    """Map URL schemes to layer factories: ``{"redis": from_url}``.

    ``get_layer(url)`` picks the factory by the URL's scheme, so a third-party layer is
    chosen with ``--layer yourscheme://...`` like the bundled ones. A factory takes
    ``(url, **options)`` and returns a :class:`~gateways.plugin.BaseChannelLayer`
    subclass, which implements the raw operations on encoded messages: ``_send``,
    ``_receive``, ``_group_add``, ``_group_discard``, ``_group_send`` and ``_flush``.

    The base class does the rest once for every layer: name validation, msgpack
    encoding, sizes, capacities (``capacity_of(channel)``) and process-specific
    channels. A layer may also:

    - set ``process_local = True`` when only this process sees its messages (then
      ``serve`` runs the workers itself and ``gateways worker`` refuses the layer);
    - implement ``ack`` and set ``visibility_timeout`` (seconds before an unacked
      message of a durable channel is delivered again) to keep durable messages;
    - override ``receive_many(channels, limit)``, which workers call, when the backend
      can take several ready messages in one round trip (the base returns one);
    - keep message groups (``_order_begin``, ``_order_end``, ``_order_release``,
      ``_order_wait``) where every process sees them: the base keeps them in the
      process, which is right only for a process-local layer.

    A layer is done when :class:`~gateways.testing.conformance.LayerConformance`
    passes against it.
    """
    return {}


# -- 4. serving -----------------------------------------------------------------------


@hookspec
def gateways_interfaces(host: Host) -> Sequence[InterfaceLike] | None:
    """Build this plugin's interfaces for ``gateways serve``.

    Only called on the plugins chosen with ``--plugin``. The host starts the returned
    interfaces (:class:`~gateways.plugin.Interface` subclasses) in order and, on
    SIGTERM, drains them.
    """


@hookspec
def gateways_host_started(host: Host) -> Awaitable[None] | None:
    """Every interface is listening and the embedded workers (if any) run."""


# -- 5. stopping ----------------------------------------------------------------------


@hookspec
def gateways_host_stopping(host: Host, grace: float) -> Awaitable[None] | None:
    """The host got SIGTERM or SIGINT. Next it drains its interfaces (each gets
    ``drain(grace)``, ``grace`` in seconds), then stops its workers, then closes the
    layer.
    """


# -- 6. workers -----------------------------------------------------------------------
# These run in worker processes (or the embedded workers of ``serve``): answer through
# ``message.reply(...)`` or ``message.layer``. Each reaches only the plugin whose
# ChannelSpec produces the message's channel, so it needs no guard against others'.


@hookspec
def gateways_unrouted(message: Message) -> Awaitable[None] | None:
    """No route matched ``message``. The protocol that owns its channel may answer at
    once (HTTP: 404) instead of leaving the client to time out; the worker also logs
    the first unrouted message of each channel.

    Runs in a worker; called only on the plugin whose ``ChannelSpec`` produces
    ``message.channel``.
    """


@hookspec
def gateways_consumer_failed(message: Message, error: BaseException) -> Awaitable[None] | None:
    """A consumer raised while handling ``message`` (already logged with its traceback).

    The owning protocol turns it into an answer: HTTP 500 if nothing was sent yet
    (``message.replied`` tells whether the consumer replied), WebSocket close 1011.

    Runs in a worker; called only on the plugin whose ``ChannelSpec`` produces
    ``message.channel``.
    """


def all_hook_names() -> list[str]:
    """The core hooks, in lifecycle order (for docs and the hook meta-test)."""
    return [name for name in globals() if name.startswith("gateways_")]


__all__ = ["PROJECT", "all_hook_names", "hookimpl", "hookspec"]
