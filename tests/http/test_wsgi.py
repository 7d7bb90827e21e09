"""The WSGI bridges: gunicorn as the interface server of a Redis-backed deployment, and
WSGI applications (Flask, a plain callable) served as ``http.request`` consumers."""

from __future__ import annotations

import hashlib
import sys
import time

import httpx
import pytest


@pytest.fixture
def wsgi_served(http_server):
    return http_server(app="http_wsgi_app:routes")


def test_flask_app_as_a_consumer(wsgi_served):
    reply = httpx.get(wsgi_served.url + "/flask/hello/ada")
    assert (reply.status_code, reply.text) == (200, "hello ada from flask")
    assert reply.headers["content-type"].startswith("text/html")


def test_flask_reads_a_large_body_from_body_channel(wsgi_served):
    data = bytes(range(256)) * 8192  # 2 MiB: the body arrives over body_channel
    reply = httpx.post(
        wsgi_served.url + "/flask/upload", content=data, headers={"Content-Type": "app/x"}
    )
    assert reply.json() == {
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "type": "app/x",
    }


def test_flask_streaming_and_large_responses(wsgi_served):
    with httpx.stream("GET", wsgi_served.url + "/flask/stream") as reply:
        assert reply.headers["transfer-encoding"] == "chunked"
        assert list(reply.iter_lines()) == ["line 0", "line 1", "line 2"]
    big = httpx.get(wsgi_served.url + "/flask/big", timeout=30)
    assert big.content == b"z" * (3 * 1024 * 1024)


def test_flask_error_is_flasks_own_500_and_missing_page_its_404(wsgi_served):
    assert httpx.get(wsgi_served.url + "/flask/boom").status_code == 500
    assert httpx.get(wsgi_served.url + "/flask/nope").status_code == 404
    wsgi_served.process.wait_for("RuntimeError: flask view failed")


def test_plain_wsgi_callable_gets_a_pep3333_environ(wsgi_served):
    reply = httpx.post(
        wsgi_served.url + "/plain/caf%C3%A9?a=1",
        content=b"body!",
        headers={"Content-Type": "text/plain", "X-Thing": "t"},
    )
    assert reply.status_code == 201
    assert reply.headers["x-plain"] == "yes"
    seen = reply.json()
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["PATH_INFO"] == "/plain/café".encode().decode("latin-1")
    assert seen["QUERY_STRING"] == "a=1"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["REMOTE_ADDR"] == "127.0.0.1"
    assert (seen["CONTENT_TYPE"], seen["CONTENT_LENGTH"]) == ("text/plain", "5")
    assert seen["HTTP_X_THING"] == "t"
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["body"] == "body!"


def test_failing_wsgi_callable_gives_500(wsgi_served):
    assert httpx.get(wsgi_served.url + "/broken").status_code == 500
    wsgi_served.process.wait_for("ValueError: plain app failed")


# -- gunicorn in front, Redis in the middle, a gateways worker behind ---------------------


@pytest.fixture
def bridge(gateways_process, redis_layer_url):
    gateways_process("worker", "http_app:routes", "--layer", redis_layer_url)
    gunicorn = gateways_process(
        "-b", "127.0.0.1:0", "-w", "2", "--threads", "4", "http_wsgi_bridge:application",
        program=[sys.executable, "-m", "gunicorn"],
        env={"HTTP_BRIDGE_LAYER": redis_layer_url, "HTTP_BRIDGE_TIMEOUT": "2"},
        ready=None,
    )  # fmt: skip
    port = int(gunicorn.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)")[1])
    return f"http://127.0.0.1:{port}"


def test_gunicorn_serves_through_the_layer(bridge):
    with httpx.Client(base_url=bridge, timeout=10) as client:
        assert client.get("/hello").text == "hello"
        seen = client.post("/echo/caf%C3%A9?q=1", content=b"abc", headers={"X-T": "1"}).json()
        assert (seen["path"], seen["query_string"], seen["body_start"]) == (
            "/echo/café",
            "q=1",
            "abc",
        )
        assert ["x-t", "1"] in seen["headers"]
        assert client.get("/nowhere").status_code == 404
        assert client.get("/explode").status_code == 500


def test_gunicorn_bridge_streams_both_ways(bridge):
    body = b"q" * (3 * 1024 * 1024)
    with httpx.Client(base_url=bridge, timeout=30) as client:
        seen = client.post("/echo", content=body).json()
        assert seen["body_channel"].startswith("http.request.body.")
        assert seen["body_length"] == len(body)
        assert client.get("/stream/4").text == "part 0\npart 1\npart 2\npart 3\n"


def test_gunicorn_bridge_answers_503_when_no_worker_replies(bridge):
    started = time.monotonic()
    reply = httpx.get(bridge + "/silent", timeout=10)
    assert reply.status_code == 503
    assert 1.9 < time.monotonic() - started < 6
