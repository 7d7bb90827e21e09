"""The HTTP interface's Prometheus families (served on ``--metrics-port``)."""

from __future__ import annotations

from gateways.plugin import Tally, Timing

RESPONSES = Tally("gateways_http_responses", "HTTP responses by status code", ["status"])
DURATION = Timing(
    "gateways_http_request_duration_seconds",
    "time from a request's dispatch to the layer to the end of its response",
)
