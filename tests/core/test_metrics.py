"""``--metrics-port``: Prometheus ``/metrics``, ``/ready`` and ``/live`` of a real
``gateways serve``, scraped and parsed with prometheus_client's own parser."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateways import metrics
from gateways.layers import ChannelFull, MessageTooLarge, get_layer
from gateways.testing import GatewaysProcess

pytestmark = pytest.mark.timeout(60)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def metrics_url(process: GatewaysProcess) -> str:
    """The ``http://HOST:PORT`` the process logged for its metrics port."""
    return process.wait_for(r"metrics on (http://\S+)")[1]


def scrape(base: str) -> Samples:
    reply = httpx.get(f"{base}/metrics", timeout=5)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def scrape_until(base: str, check: Callable[[Samples], bool], timeout: float = 10) -> Samples:
    """Scrape until ``check`` holds: counts are taken just after a reply is sent, so the
    client may see the reply a moment before the count (polling a condition)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(base)
        if check(samples):
            return samples
        assert time.monotonic() < deadline, "metrics never reached the expected values"
        time.sleep(0.05)


def test_serve_exposes_messages_consumers_and_http_series(gateways_process):
    serve = gateways_process(
        "serve", "http_app:routes", "--plugin", "http", "--http-port", "0", "--metrics-port", "0"
    )
    base = metrics_url(serve)
    host, port = serve.address("http")
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as client:
        assert [client.get("/hello").status_code for _ in range(3)] == [200, 200, 200]
        assert client.get("/explode").status_code == 500
        assert client.get("/nowhere").status_code == 404

    def done(s: Samples) -> bool:
        return value(s, "gateways_consumer_duration_seconds_count", channel="http.request") == 5

    samples = scrape_until(base, done)
    assert value(samples, "gateways_messages_sent_total", channel="http.request") == 5
    # Every reply channel of the process is one series, whatever its random suffix.
    assert value(samples, "gateways_messages_sent_total", channel="http.response!") >= 5
    assert value(samples, "gateways_messages_received_total", channel="http.request") == 5
    assert value(samples, "gateways_messages_handled_total", channel="http.request") == 4
    assert value(samples, "gateways_messages_failed_total", channel="http.request") == 1
    assert value(samples, "gateways_http_responses_total", status="200") == 3
    assert value(samples, "gateways_http_responses_total", status="500") == 1
    assert value(samples, "gateways_http_responses_total", status="404") == 1
    assert value(samples, "gateways_http_request_duration_seconds_count") == 5
    assert value(samples, "gateways_http_request_duration_seconds_bucket", le="+Inf") == 5
    assert value(samples, "gateways_open_connections", interface="http") == 0
    assert value(samples, "gateways_channel_depth", channel="http.request") == 0
    assert value(samples, "gateways_channel_capacity", channel="http.request") == 100
    assert value(samples, "gateways_layer_round_trip_seconds_count") >= 1
    assert value(samples, "process_cpu_seconds_total") is not None
    channels = {dict(labels)["channel"] for _, labels in samples if "channel" in dict(labels)}
    assert channels == {"http.request", "http.response!", "http.disconnect"}


def test_live_and_ready_on_the_memory_layer(gateways_process):
    serve = gateways_process(
        "serve", "http_app:routes", "--plugin", "http", "--http-port", "0", "--metrics-port", "0"
    )
    base = metrics_url(serve)
    live, ready = httpx.get(f"{base}/live"), httpx.get(f"{base}/ready")
    assert (live.status_code, live.text) == (200, "live\n")
    assert (ready.status_code, ready.text) == (200, "ready\n")
    assert httpx.get(f"{base}/other").status_code == 404
    assert httpx.post(f"{base}/metrics").status_code == 405


def test_a_refused_request_counts_as_too_large(gateways_process):
    serve = gateways_process(
        "serve", "http_app:routes", "--plugin", "http", "--http-port", "0",
        "--metrics-port", "0", "--layer", "memory://?max_message_size=2000",
    )  # fmt: skip
    base = metrics_url(serve)
    host, port = serve.address("http")
    reply = httpx.post(f"http://{host}:{port}/echo", content=b"x" * 5000, timeout=10)
    assert reply.status_code == 431
    samples = scrape(base)
    refused = "gateways_messages_refused_total"
    assert value(samples, refused, channel="http.request", reason="too_large") == 1
    assert value(samples, "gateways_http_responses_total", status="431") == 1


def test_the_metrics_port_taken_is_a_clear_start_failure(gateways_process):
    first = gateways_process(
        "serve", "http_app:routes", "--plugin", "http", "--http-port", "0", "--metrics-port", "0"
    )
    taken = metrics_url(first).rsplit(":", 1)[1]
    second = gateways_process(
        "serve", "http_app:routes", "--plugin", "http", "--http-port", "0",
        "--metrics-port", taken, ready=None,
    )  # fmt: skip
    assert second.wait(20) == 1
    assert f"metrics: cannot listen on 127.0.0.1:{taken}" in second.output
    assert "choose another with --metrics-port" in second.output


async def test_layer_refusals_are_counted_in_send(monkeypatch):
    monkeypatch.setattr(metrics, "ON", True)  # as in a process with a metrics port
    layer = get_layer("memory://", capacity=1, max_message_size=100)
    full = ("jobs.metrics-test", "channel_full")
    large = ("jobs.metrics-test", "too_large")
    before = {key: metrics.REFUSED.counts[key] for key in (full, large)}
    sent = metrics.SENT.counts["jobs.metrics-test"]
    await layer.send("jobs.metrics-test", {"n": 1})
    with pytest.raises(ChannelFull):
        await layer.send("jobs.metrics-test", {"n": 2})
    with pytest.raises(MessageTooLarge):
        await layer.send("jobs.metrics-test", {"blob": "x" * 200})
    assert metrics.SENT.counts["jobs.metrics-test"] == sent + 1
    assert metrics.REFUSED.counts[full] == before[full] + 1
    assert metrics.REFUSED.counts[large] == before[large] + 1
    text = metrics.exposition()[0].decode()
    assert 'gateways_messages_refused_total{channel="jobs.metrics-test",reason="channel_full"}' in (
        text
    )


def test_channel_labels_stay_bounded(monkeypatch):
    monkeypatch.setattr(metrics, "_labels", {})
    monkeypatch.setattr(metrics, "MAX_LABELS", 20)
    assert metrics.channel_label("http.request") == "http.request"
    assert metrics.channel_label("http.response.0123456789ab!1f") == "http.response!"
    assert metrics.channel_label("http.response.0123456789ab!20") == "http.response!"
    assert metrics.channel_label("websocket.send.fedcba987654!") == "websocket.send!"
    assert metrics.channel_label("chat!room") == "chat!"
    assert metrics.channel_label("http.request.body.4f2a9c") == "http.request.body.*"
    for i in range(metrics.MAX_LABELS + 10):
        label = metrics.channel_label(f"test.many.{i}")
    assert label == "other"
