"""Bodies and responses that do not fit one message, long-polls, server-sent events,
clients that leave, and what happens when the layer or the application gives out."""

from __future__ import annotations

import hashlib
import http.client
import time

import httpx
import pytest


@pytest.fixture
def server(http_server):
    return http_server()


def test_large_body_travels_over_body_channel_in_chunks(server):
    body = bytes(range(256)) * (5 * 4096)  # 5 MiB: many layer messages
    seen = httpx.post(server.url + "/echo", content=body, timeout=30).json()
    assert seen["body_channel"].startswith("http.request.body.")
    assert seen["body_length"] == len(body)
    assert seen["body_start"] == body[:64].decode("latin-1")


def test_large_chunked_body_streams_and_hashes_right(server):
    blob = b"0123456789abcdef" * 65536  # 1 MiB in uneven pieces

    def pieces():
        for start in range(0, len(blob), 70001):
            yield blob[start : start + 70001]

    reply = httpx.post(server.url + "/digest", content=pieces(), timeout=30)
    assert reply.json() == {"sha256": hashlib.sha256(blob).hexdigest(), "length": len(blob)}


def test_long_poll_reply_ten_seconds_later_is_delivered(server):
    started = time.monotonic()
    reply = server.connect(timeout=20).request("GET", "/later/10")
    assert (reply.status, reply.body) == (200, b"late reply")
    assert time.monotonic() - started >= 10


def test_server_sent_events_arrive_one_by_one(server):
    with httpx.stream("GET", server.url + "/events") as reply:
        assert reply.headers["content-type"] == "text/event-stream"
        assert reply.headers["transfer-encoding"] == "chunked"
        events = [line for line in reply.iter_lines() if line.startswith("data:")]
    assert events == ["data: event 0", "data: event 1", "data: event 2"]


def test_client_that_disconnects_produces_http_disconnect(server):
    client = server.connect()
    client.send(b"GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
    head = client.read_head()
    assert head.status == 200
    started = server.process.wait_for(r"hang started for (\S+)")
    client.close()
    found = server.process.wait_for(r"http.disconnect for /hang on (\S+)")
    assert found[1] == started[1]


def test_large_streamed_response(server):
    reply = httpx.get(server.url + "/big/6", timeout=30)
    assert len(reply.content) == 6 * 512 * 1024
    assert reply.content[:4] == b"\x00\x01\x02\x03"


def test_consumer_failing_midway_aborts_the_response(server):
    client = server.connect()
    client.send(b"GET /explode-midway HTTP/1.1\r\nHost: t\r\n\r\n")
    head = client.read_head()
    assert head.status == 200
    with pytest.raises(http.client.IncompleteRead):  # the chunked body never ends
        head.read()
    server.process.wait_for("the application aborted its response to GET /explode-midway")


def test_full_request_channel_answers_503_at_once_with_retry_after(http_server):
    # One worker slot, one queued message: the third request finds the channel full.
    server = http_server("--layer", "memory://?capacity=1", "--concurrency", "1")
    holder = server.connect()
    holder.send(b"GET /hold/2 HTTP/1.1\r\nHost: t\r\n\r\n")
    server.process.wait_for("holding a request")
    queued = server.connect()
    queued.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    started = time.monotonic()
    reply = server.connect().request("GET", "/hello")
    assert reply.status == 503
    assert reply.header("retry-after") == "1"
    assert time.monotonic() - started < 1
    server.process.wait_for("http.request is full: 503 for GET /hello")
    # Nothing was lost: the held and the queued requests are answered once the slot frees.
    assert holder.read().body == b"held"
    assert queued.read().body == b"hello"
