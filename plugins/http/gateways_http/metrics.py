"""The HTTP interface's Prometheus families (served on ``--metrics-port``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gateways.plugin import Tally, Timing

RESPONSES = Tally("gateways_http_responses", "HTTP responses by status code", ["status"])
DURATION = Timing(
    "gateways_http_request_duration_seconds",
    "time from a request's dispatch to the layer to the end of its response",
)


def buffered_family(buffered: Callable[[], dict[str, int]]) -> Callable[[], Iterable[Any]]:
    """A scrape-time source (``gateways.metrics.register_source``) of the request bytes
    the interface holds: ``head`` (unfinished heads), ``body`` (bodies not yet in the
    layer), ``unread`` (body chunks in ``body_channel`` no consumer has read yet)."""

    def families() -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        gauge = GaugeMetricFamily(
            "gateways_http_buffered_bytes",
            "request bytes held for HTTP clients, by where they wait",
            labels=["where"],
        )
        for where, size in buffered().items():
            gauge.add_metric([where], size)
        return [gauge]

    return families
