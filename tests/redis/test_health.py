"""Health and metrics of a real deployment on Redis: an interface process, workers, and
Redis going away and coming back."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.core.test_metrics import metrics_url, scrape_until, value

pytestmark = pytest.mark.timeout(90)

HTTP = ["--plugin", "http", "--http-port", "0"]


def serve_on(gateways_process, url: str, *args: str, **kwargs):
    return gateways_process("serve", *HTTP, "--layer", url, "--metrics-port", "0", *args, **kwargs)


def worker_on(gateways_process, url: str, **kwargs):
    return gateways_process(
        "worker", "redis_app:web", "--layer", url, "--metrics-port", "0", **kwargs
    )


def probe(base: str, path: str) -> tuple[int, str]:
    reply = httpx.get(f"{base}{path}", timeout=10)
    return reply.status_code, reply.text


def wait_ready(base: str, status: int, timeout: float = 15) -> str:
    """Poll /ready (what a probe does) until it answers ``status``; its text."""
    deadline = time.monotonic() + timeout
    while True:
        code, text = probe(base, "/ready")
        if code == status:
            return text
        assert time.monotonic() < deadline, f"/ready stayed {code}: {text}"
        time.sleep(0.1)


def http_base(process) -> str:
    host, port = process.address("http")
    return f"http://{host}:{port}"


def test_worker_and_interface_metrics_on_redis(redis_layer_url, gateways_process):
    serve = serve_on(gateways_process, redis_layer_url)
    worker = worker_on(gateways_process, redis_layer_url)
    with httpx.Client(base_url=http_base(serve), timeout=20) as client:
        pids = {client.get("/whoami").text for _ in range(4)}
    assert pids == {str(worker.proc.pid)}

    def handled(samples) -> bool:
        return value(samples, "gateways_messages_handled_total", channel="http.request") == 4

    seen = scrape_until(metrics_url(worker), handled)
    assert value(seen, "gateways_messages_received_total", channel="http.request") == 4
    assert value(seen, "gateways_consumer_duration_seconds_count", channel="http.request") == 4
    assert value(seen, "gateways_messages_sent_total", channel="http.response!") == 4
    assert value(seen, "gateways_layer_round_trip_seconds_count") >= 1
    assert value(seen, "gateways_channel_depth", channel="http.request") == 0
    assert value(seen, "gateways_open_connections", interface="http") is None

    front = scrape_until(
        metrics_url(serve),
        lambda s: value(s, "gateways_http_responses_total", status="200") == 4,
    )
    assert value(front, "gateways_messages_sent_total", channel="http.request") == 4
    assert value(front, "gateways_http_request_duration_seconds_count") == 4
    assert value(front, "gateways_messages_received_total", channel="http.request") is None


def test_ready_only_once_a_worker_is_alive(redis_layer_url, gateways_process):
    serve = serve_on(gateways_process, redis_layer_url)
    base = metrics_url(serve)
    assert probe(base, "/live") == (200, "live\n")
    assert probe(base, "/ready") == (503, "not ready: no worker is alive on the layer\n")
    worker = worker_on(gateways_process, redis_layer_url)
    assert wait_ready(base, 200) == "ready\n"
    assert probe(metrics_url(worker), "/ready") == (200, "ready\n")
    assert worker.stop() == 0  # a clean stop takes its heartbeat back at once
    assert wait_ready(base, 503) == "not ready: no worker is alive on the layer\n"


def test_with_redis_down_at_start_ready_is_logged_once_it_answers(
    make_redis_server, gateways_process
):
    server = make_redis_server()
    server.kill()
    serve = serve_on(gateways_process, server.url, ready=None)
    worker = worker_on(gateways_process, server.url, ready=None)
    serve.wait_for("serve: waiting for the layer")
    worker.wait_for("worker: waiting for the layer")
    base = metrics_url(serve)
    code, text = probe(base, "/ready")
    assert code == 503 and text.startswith("not ready: the layer does not answer")
    assert probe(base, "/live")[0] == 200
    assert "gateways ready" not in serve.output
    assert "ready, receiving on" not in worker.output

    server.start(keep_port=True)
    serve.wait_for("gateways ready")
    worker.wait_for("ready, receiving on")
    for process, waiting, ready in (
        (serve, "waiting for the layer", "gateways ready"),
        (worker, "waiting for the layer", "ready, receiving on"),
    ):
        lines = process.lines
        first = next(i for i, line in enumerate(lines) if waiting in line)
        assert first < next(i for i, line in enumerate(lines) if ready in line)
    assert wait_ready(base, 200) == "ready\n"


def test_the_layer_coming_back_is_logged_and_counted(make_redis_server, gateways_process):
    server = make_redis_server()
    serve = serve_on(gateways_process, server.url)
    worker = worker_on(gateways_process, server.url)
    server.kill()
    worker.wait_for("layer unreachable")
    serve.wait_for("layer unreachable")
    server.start(keep_port=True)
    worker.wait_for("worker: layer reachable again")
    serve.wait_for("http: layer reachable again")
    scrape_until(
        metrics_url(worker), lambda s: (value(s, "gateways_layer_reconnects_total") or 0) >= 1
    )
    with httpx.Client(base_url=http_base(serve), timeout=20) as client:
        assert client.get("/whoami").text == str(worker.proc.pid)


def test_timeouts_with_no_worker_say_why_once(redis_layer_url, gateways_process):
    serve = serve_on(gateways_process, redis_layer_url, "--http-timeout", "0.5")
    statuses: list[int] = []

    def ask() -> None:
        statuses.append(httpx.get(f"{http_base(serve)}/whoami", timeout=20).status_code)

    for _ in range(2):  # two rounds of three requests, each timing out
        clients = [threading.Thread(target=ask) for _ in range(3)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
    assert statuses == [503] * 6
    start = 0
    for _ in range(6):  # each 503 is still logged (maybe just after the client got it)
        serve.wait_for("no reply to GET /whoami", start=start)
        start = 1 + next(
            i for i, line in enumerate(serve.lines) if i >= start and "no reply to GET" in line
        )
    assert serve.output.count("no worker is receiving http.request") == 1
