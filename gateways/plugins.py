"""Finding, loading and describing plugins.

Every plugin, bundled or third-party, is an entry point in the group ``gateways``; the
entry-point name is the plugin's name (``--plugin http``). A dotted module path works
too (``--plugin myproject.gateway_plugin``), for plugins under development.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Literal

import pluggy

from gateways import hookspecs
from gateways.config import Option

CORE = "gateways.core"


class UnknownPlugin(LookupError):
    def __init__(self, name: str, installed: Iterable[str]) -> None:
        self.name = name
        self.installed = sorted(installed)
        listing = ", ".join(self.installed) or "none"
        super().__init__(f"unknown plugin {name!r}; installed plugins: {listing}")


class PluginLoadError(ImportError):
    """An installed plugin could not be imported; names the plugin and its distribution."""


@dataclass(frozen=True)
class ChannelSpec:
    """A channel a plugin produces (puts messages on) or consumes (reads from).

    ``name`` may be a shell-style glob (``http.request.body.*``). The plugin that
    produces a channel owns it: the worker's ``gateways_unrouted`` and
    ``gateways_consumer_failed`` for its messages go to that plugin alone.
    ``durable=True`` makes layers that can keep a message until it is acknowledged do
    so (at least once, redelivered after a crash), wherever the channel is used.
    ``ordered`` names a family of channels whose messages for one connection are
    numbered together (a :class:`~gateways.flow.Flow`: ``websocket.connect``, ``.receive``
    and ``.disconnect``): each message waits for the one before it, so a worker that
    routes one of the family also takes the others its app does not route, and ends
    them at once, or a connection would stall on a message nobody reads.
    """

    name: str
    role: Literal["produces", "consumes"]
    message: Any = None  # a TypedDict class describing the message
    description: str = ""
    durable: bool = False
    #: A notice (a disconnect, a failure report) that an app may leave unrouted: no worker
    #: receiving it is not a problem for ``gateways status``.
    notice: bool = False
    ordered: str = ""


class PluginHost:
    """The pluggy manager plus what ``gateways`` needs to know about each plugin."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.versions: dict[str, str] = {}
        self._owners: dict[str, str | None] = {}
        self._owner_hooks: dict[tuple[str, str], Any] = {}
        from gateways import core_options

        self.pm.register(core_options, name=CORE)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def load_installed(self) -> PluginHost:
        for ep in entry_points(group=hookspecs.PROJECT):
            if self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                dist = ep.dist.name if ep.dist else "an unknown distribution"
                raise PluginLoadError(
                    f"plugin {ep.name!r} ({ep.value}, from {dist}) failed to import: {exc}"
                ) from exc
            self.pm.register(plugin, name=ep.name)
            self.versions[ep.name] = ep.dist.version if ep.dist else "unknown"
        self.pm.hook.gateways_addhooks.call_historic(kwargs={"pluginmanager": self.pm})
        return self

    def register(self, plugin: object, name: str | None = None) -> None:
        self.pm.register(plugin, name=name)
        self._forget_owners()

    def _forget_owners(self) -> None:
        self._owners.clear()
        self._owner_hooks.clear()

    def require(self, name: str) -> object:
        """The plugin called ``name``, importing a dotted module path on first use."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            return plugin
        if "." in name:
            try:
                module: ModuleType = importlib.import_module(name)
            except ImportError:
                pass
            else:
                self.register(module, name=name)
                return module
        raise UnknownPlugin(name, self.names())

    def names(self) -> list[str]:
        return sorted(n for n, _ in self.pm.list_name_plugin() if n and n != CORE)

    def implements(self, name: str, hook: str) -> bool:
        plugin = self.pm.get_plugin(name)
        return any(impl.plugin is plugin for impl in getattr(self.hook, hook).get_hookimpls())

    def options(self, command: str | None = None) -> list[Option]:
        """Every declared option, tagged with the plugin that declared it."""
        found: list[Option] = []
        for name, result in self._per_plugin("gateways_options"):
            for option in result:
                tagged = Option(**{**option.__dict__, "plugin": "" if name == CORE else name})
                if command is None or command in tagged.commands:
                    found.append(tagged)
        return found

    def channels(self) -> dict[str, list[ChannelSpec]]:
        return {name: list(result) for name, result in self._per_plugin("gateways_channels")}

    def only(self, names: Iterable[str], hook: str) -> Any:
        """A caller of ``hook`` that reaches the named plugins alone."""
        keep = {self.pm.get_plugin(n) for n in names}
        others = [p for _, p in self.pm.list_name_plugin() if p not in keep]
        return self.pm.subset_hook_caller(hook, remove_plugins=others)

    def durable_channels(self) -> list[str]:
        """Channel globs that some installed plugin declares durable."""
        specs = itertools.chain.from_iterable(self.channels().values())
        return sorted({spec.name for spec in specs if spec.durable})

    def ordered_siblings(self, channels: Iterable[str]) -> list[str]:
        """The other channels of the ordered families ``channels`` belong to."""
        specs = list(itertools.chain.from_iterable(self.channels().values()))
        chosen = set(channels)
        families = {s.ordered for s in specs if s.ordered and s.name in chosen}
        return sorted({s.name for s in specs if s.ordered in families} - chosen)

    def owner(self, channel: str) -> str | None:
        """The plugin whose ``ChannelSpec`` produces ``channel`` (exact names first)."""
        if channel not in self._owners:
            produced = [
                (name, spec.name)
                for name, specs in self.channels().items()
                for spec in specs
                if spec.role == "produces"
            ]
            exact = [name for name, pattern in produced if pattern == channel]
            globbed = [name for name, pattern in produced if fnmatchcase(channel, pattern)]
            self._owners[channel] = next(iter(exact or globbed), None)
        return self._owners[channel]

    def owner_hook(self, channel: str, hook: str) -> Any:
        """A caller of ``hook`` that reaches only the owner of ``channel`` (or nobody)."""
        key = (channel, hook)
        if key not in self._owner_hooks:
            owner = self.owner(channel)
            self._owner_hooks[key] = self.only([owner] if owner else [], hook)
        return self._owner_hooks[key]

    def _per_plugin(self, hook: str) -> list[tuple[str, Sequence[Any]]]:
        results = []
        for impl in reversed(getattr(self.hook, hook).get_hookimpls()):
            results.append((self.pm.get_name(impl.plugin) or "?", impl.function() or ()))
        return results

    def describe(self) -> list[dict[str, Any]]:
        """What ``gateways plugins`` prints, one record per installed plugin."""
        by_plugin_channels = self.channels()
        schemes = dict(self._per_plugin("gateways_layer_backends"))
        options = self.options()
        records = []
        for name in self.names():
            specs = by_plugin_channels.get(name, [])
            records.append(
                {
                    "name": name,
                    "version": self.versions.get(name, "unknown"),
                    "interface": self.implements(name, "gateways_interfaces"),
                    "layer_schemes": [f"{s}://" for s in sorted(schemes.get(name, ()))],
                    "produces": [s.name for s in specs if s.role == "produces"],
                    "durable": [s.name for s in specs if s.durable],
                    "consumes": [s.name for s in specs if s.role == "consumes"],
                    "options": [
                        {
                            "flag": None if o.file_only else o.flag,
                            "env": None if o.file_only else o.env,
                            "file": file_key(o),
                            "default": o.default,
                            "help": o.help,
                        }
                        for o in options
                        if o.plugin == name
                    ],
                    "hooks": sorted(
                        h.name for h in self.pm.get_hookcallers(self.pm.get_plugin(name)) or ()
                    ),
                }
            )
        return records


async def gather_results(results: Iterable[Any]) -> list[Any]:
    """Await the awaitables among hook results (hooks may be sync or async)."""
    done = []
    for result in results:
        done.append(await result if inspect.isawaitable(result) else result)
    return done


@cache
def get_plugin_host() -> PluginHost:
    """The process-wide host with every installed plugin loaded."""
    return PluginHost().load_installed()


def file_key(option: Option) -> str:
    """How the config file names ``option``: ``[http] port`` for ``http_port``."""
    section, _, rest = option.name.partition("_")
    return f"[{section}] {rest}" if rest else option.name
