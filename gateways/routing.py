"""Routing: which consumer handles a message.

``route("http.request", view, path=r"^/hello/(?P<name>\\w+)$")`` matches when every
filter's regex matches (from the start) the message key of that name; named groups
become keyword arguments. ``include(routes, path=r"^/chat")`` matches the prefix,
strips it, and tries the inner routes on the rest.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gateways.layers.base import validate_channel_name

Consumer = Callable[..., Any]
Match = tuple[Consumer, dict[str, str]]


def _compile(filters: Mapping[str, str | re.Pattern[str]]) -> dict[str, re.Pattern[str]]:
    compiled = {}
    for key, pattern in filters.items():
        try:
            compiled[key] = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"filter {key}={pattern!r} is not a valid regex: {exc}") from None
    return compiled


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return None if value is None else str(value)


def _apply(
    filters: dict[str, re.Pattern[str]], values: dict[str, str | None], strip: bool
) -> dict[str, str] | None:
    """Match each filter; return named groups, stripping matched prefixes in ``values``."""
    kwargs: dict[str, str] = {}
    for key, pattern in filters.items():
        value = values.get(key)
        if value is None:
            return None
        found = pattern.match(value)
        if found is None:
            return None
        kwargs.update({k: v for k, v in found.groupdict().items() if v is not None})
        if strip:
            values[key] = value[found.end() :]
    return kwargs


@dataclass
class Route:
    channel: str
    consumer: Consumer
    filters: dict[str, re.Pattern[str]] = field(default_factory=dict)

    def channels(self) -> set[str]:
        return {self.channel}

    def consumers(self) -> list[Consumer]:
        return [self.consumer]

    def match(self, channel: str, values: dict[str, str | None]) -> Match | None:
        if channel != self.channel:
            return None
        kwargs = _apply(self.filters, values, strip=False)
        return None if kwargs is None else (self.consumer, kwargs)


@dataclass
class Include:
    routes: list[Route | Include]
    filters: dict[str, re.Pattern[str]] = field(default_factory=dict)

    def channels(self) -> set[str]:
        return set().union(*(r.channels() for r in self.routes))

    def consumers(self) -> list[Consumer]:
        return [consumer for r in self.routes for consumer in r.consumers()]

    def match(self, channel: str, values: dict[str, str | None]) -> Match | None:
        inner = dict(values)
        kwargs = _apply(self.filters, inner, strip=True)
        if kwargs is None:
            return None
        for entry in self.routes:
            found = entry.match(channel, dict(inner))
            if found is not None:
                return found[0], {**kwargs, **found[1]}
        return None


def route(channel: str, consumer: Consumer, /, **filters: str | re.Pattern[str]) -> Route:
    """Send messages on ``channel`` that pass every filter to ``consumer``.

    Positional-only, so a message key called ``channel`` (IRC) can be a filter too.
    """
    validate_channel_name(channel)
    if not callable(consumer):
        raise TypeError(f"consumer for {channel!r} must be callable, got {consumer!r}")
    return Route(channel, consumer, _compile(filters))


def include(routes: Iterable[Route | Include] | str, **filters: str | re.Pattern[str]) -> Include:
    """Nest ``routes`` (a list, or a ``module:attribute`` path) under a prefix filter."""
    entries = _as_entries(import_object(routes) if isinstance(routes, str) else routes)
    return Include(entries, _compile(filters))


def _as_entries(routes: Any) -> list[Route | Include]:
    if isinstance(routes, Router):
        return list(routes.entries)
    entries = list(routes)
    for entry in entries:
        if not isinstance(entry, Route | Include):
            raise TypeError(f"routing entries are route(...) or include(...), got {entry!r}")
    return entries


@runtime_checkable
class Routing(Protocol):
    """What a worker needs from an APP: a custom router object can stand in."""

    channels: frozenset[str]

    def match(self, channel: str, message: Mapping[str, Any]) -> Match | None: ...


class Router:
    """Routes indexed by channel; the first matching entry wins."""

    def __init__(self, routes: Iterable[Route | Include]) -> None:
        self.entries = _as_entries(routes)
        self.channels = frozenset(set().union(*(e.channels() for e in self.entries)))
        self._by_channel: dict[str, list[tuple[Route | Include, frozenset[str]]]] = {}
        for channel in self.channels:
            self._by_channel[channel] = [
                (e, frozenset(_filter_keys(e))) for e in self.entries if channel in e.channels()
            ]

    def consumers(self) -> list[Consumer]:
        """Every consumer routed to, in routing order."""
        return [consumer for entry in self.entries for consumer in entry.consumers()]

    def match(self, channel: str, message: Mapping[str, Any]) -> Match | None:
        for entry, keys in self._by_channel.get(channel, ()):
            found = entry.match(channel, {key: _text(message.get(key)) for key in keys})
            if found is not None:
                return found
        return None


def _filter_keys(entry: Route | Include) -> set[str]:
    keys = set(entry.filters)
    if isinstance(entry, Include):
        for inner in entry.routes:
            keys |= _filter_keys(inner)
    return keys


def import_object(spec: str) -> Any:
    """``package.module:attribute`` (or ``package.module.attribute``) to the object."""
    module_name, sep, attribute = spec.partition(":")
    if not sep:
        module_name, _, attribute = spec.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"expected module:attribute, got {spec!r}")
    module = importlib.import_module(module_name)
    try:
        obj = module
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return obj


def load_routing(spec: str | Sequence[Route | Include] | Routing) -> Routing:
    """Turn an APP (path, list of routes, or router object) into something to match on."""
    target = import_object(spec) if isinstance(spec, str) else spec
    if isinstance(target, Routing) and not isinstance(target, list | tuple):
        return target
    return Router(target)
