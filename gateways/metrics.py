"""Prometheus metrics of a ``gateways serve`` or ``gateways worker`` process.

Counting sits on the hot path (every layer send, every HTTP response), so the families
here keep plain numbers: one dict update per count, no lock (everything counts from the
event loop's thread). ``prometheus_client`` turns them into series only when
``/metrics`` is scraped (a custom collector on its default registry, which also brings
its ``process_*`` and ``python_*`` series); it is imported then, not by every process.

Counting the busiest events (every message, every response) is on only in a process that
serves metrics (:data:`ON`); without ``--metrics-port`` each costs one flag check.

Channel labels stay bounded: a process-specific name (``http.response.3fa2…!1c``) counts
under its collapsed prefix (``http.response!``), a per-request body channel under
``http.request.body.*``, and past :data:`MAX_LABELS` distinct names under ``other``.
A plugin declares families of its own with :class:`Tally` and :class:`Timing`.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

__all__ = [
    "LAYER_SECONDS",
    "Tally",
    "Timing",
    "channel_label",
    "counting",
    "exposition",
    "register_source",
]

log = logging.getLogger("gateways.metrics")

#: Distinct channel names given a label of their own; later ones count as ``other``.
MAX_LABELS = 1000
#: Channels named per request, counted under ``PREFIX*``.
PER_REQUEST_PREFIXES = ("http.request.body.",)
#: Seconds buckets for work done by consumers and interfaces.
WORK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: Seconds buckets for a round trip to the layer.
LAYER_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 2)

#: Whether this process counts the busiest events (messages, responses): a process with
#: a metrics port does; one without pays a flag check per event instead. Refusals and
#: layer events are rare and always counted.
ON = False

_labels: dict[str, str] = {}
_families: dict[str, Tally | Timing] = {}
_sources: list[Callable[[], Iterable[Any]]] = []


def counting() -> bool:
    """Whether this process serves metrics: plugins check it before measuring on a hot
    path (``if counting(): ...``)."""
    return ON


def channel_label(channel: str) -> str:
    """The ``channel`` label for ``channel``: the name itself, bounded (module doc)."""
    label = _labels.get(channel)
    if label is None:
        bang = channel.find("!")  # a reply channel: its prefix is known after the first
        label = _labels.get(channel[: bang + 1]) if bang > 0 else None
        if label is None:
            label = _new_label(channel)
    return label


def _new_label(channel: str) -> str:
    bang = channel.find("!")
    if bang >= 0:  # one label per prefix, never one per reply channel
        head = channel[: bang + 1]
        label = _labels.get(head)
        return label if label is not None else _remember(head, _collapse(head))
    for prefix in PER_REQUEST_PREFIXES:
        if channel.startswith(prefix):
            return prefix + "*"
    return _remember(channel, channel)


def _collapse(head: str) -> str:
    """``http.response.3fa2b1c4d5e6!`` -> ``http.response!``: drop the random segment a
    layer puts in each process's prefix, so every process reports the same label."""
    base, dot, last = head[:-1].rpartition(".")
    random = len(last) >= 8 and all(c in "0123456789abcdef" for c in last)
    return f"{base}!" if dot and random else head


def _remember(name: str, label: str) -> str:
    if len(_labels) >= MAX_LABELS:
        return "other"
    _labels[name] = label
    return label


def _declare(family: Tally | Timing) -> None:
    if family.name in _families:
        raise ValueError(f"metric {family.name} is declared twice")
    _families[family.name] = family


class Tally:
    """A Prometheus counter (exposed as ``NAME_total``) kept as plain ints.

    ``inc(key)``: ``key`` is the label value (one label) or a tuple of them; no
    ``labels`` means one series, counted with ``inc()``.
    """

    __slots__ = ("counts", "documentation", "labels", "name")

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        self.name = name.removesuffix("_total")
        self.documentation = documentation
        self.labels = tuple(labels)
        self.counts: defaultdict[Hashable, int] = defaultdict(int)
        _declare(self)

    def inc(self, key: Hashable = ()) -> None:
        self.counts[key] += 1

    def family(self) -> Any:
        from prometheus_client.core import CounterMetricFamily

        made = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, count in list(self.counts.items()):
            made.add_metric(_values(key, self.labels), count)
        return made


class Timing:
    """A Prometheus histogram of seconds, kept as bucket counts and a sum per series."""

    __slots__ = ("bounds", "documentation", "labels", "name", "series")

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = WORK_BUCKETS,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.bounds = tuple(sorted(float(b) for b in buckets))
        #: Per key: one count per bucket, one for +Inf, then the sum of what was seen.
        self.series: dict[Hashable, list[float]] = {}
        _declare(self)

    def observe(self, seconds: float, key: Hashable = ()) -> None:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0.0] * (len(self.bounds) + 2)
        series[bisect_left(self.bounds, seconds)] += 1
        series[-1] += seconds

    def family(self) -> Any:
        from prometheus_client.core import HistogramMetricFamily

        made = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, series in list(self.series.items()):
            buckets, running = [], 0.0
            for bound, count in zip([*map(str, self.bounds), "+Inf"], series[:-1], strict=True):
                running += count
                buckets.append((bound, running))
            made.add_metric(_values(key, self.labels), buckets, series[-1])
        return made


def _values(key: Hashable, labels: tuple[str, ...]) -> list[str]:
    if not labels:
        return []
    if len(labels) == 1:
        return [str(key)]
    return [str(value) for value in key]  # type: ignore[attr-defined]


def register_source(source: Callable[[], Iterable[Any]]) -> Callable[[], None]:
    """Add families made at scrape time (gauges read from a running process); returns
    the function that takes them away again."""
    _sources.append(source)
    return lambda: _sources.remove(source) if source in _sources else None


class _Collector:
    """What ``/metrics`` shows besides prometheus_client's own process series."""

    def describe(self) -> list[Any]:
        return []  # names are checked by the families themselves (_declare)

    def collect(self) -> Iterable[Any]:
        for family in list(_families.values()):
            yield family.family()
        for source in list(_sources):
            try:
                yield from source()
            except Exception:
                log.exception("a metrics source failed")


_registered: list[_Collector] = []


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    if not _registered:
        _registered.append(_Collector())
        REGISTRY.register(_registered[0])
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# -- the core's own families -------------------------------------------------------------

SENT = Tally("gateways_messages_sent", "messages sent to the channel layer", ["channel"])
REFUSED = Tally(
    "gateways_messages_refused",
    "sends the layer refused: channel_full (ChannelFull), too_large (MessageTooLarge)",
    ["channel", "reason"],
)
RECEIVED = Tally("gateways_messages_received", "messages a worker took", ["channel"])
EXPIRED = Tally(
    "gateways_messages_expired",
    "messages dropped unrun: their sender had given up on them (past __deadline__)",
    ["channel"],
)
HANDLED = Tally("gateways_messages_handled", "messages whose consumer returned", ["channel"])
FAILED = Tally("gateways_messages_failed", "messages whose consumer raised", ["channel"])
CONSUMER_SECONDS = Timing(
    "gateways_consumer_duration_seconds", "time a consumer took per message", ["channel"]
)
LAYER_SECONDS = Timing(
    "gateways_layer_round_trip_seconds",
    "round trip of a heartbeat write to the layer",
    buckets=LAYER_BUCKETS,
)
RECONNECTS = Tally(
    "gateways_layer_reconnects", "times a receive loop saw the layer come back after an outage"
)


def consumed(channel: str, seconds: float, ok: bool) -> None:
    """A consumer returned (``ok``) or raised, after ``seconds``."""
    label = channel_label(channel)
    (HANDLED if ok else FAILED).inc(label)
    CONSUMER_SECONDS.observe(seconds, label)


def refused(channel: str, reason: str) -> None:
    """The layer refused a send (``reason``: ``channel_full`` or ``too_large``)."""
    REFUSED.inc((channel_label(channel), reason))
