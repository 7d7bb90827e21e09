"""HTTP/1.1 on a real socket: routing answers, keep-alive, pipelining, HEAD, chunked
bodies both ways, Expect: 100-continue, and the 404/500 answers from the worker side."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def server(http_server):
    return http_server()


def test_hello_then_keep_alive_on_the_same_connection(server):
    client = server.connect()
    for _ in range(3):
        reply = client.request("GET", "/hello")
        assert (reply.status, reply.body) == (200, b"hello")
        assert reply.header("content-length") == "5"
        assert reply.header("date")
    assert reply.header("connection") is None  # HTTP/1.1: keep-alive is the default


def test_unrouted_request_gets_404_and_a_failing_consumer_500(server):
    client = server.connect()
    assert client.request("GET", "/nowhere").status == 404
    reply = client.request("GET", "/explode")
    assert reply.status == 500
    assert b"Internal Server Error" in reply.body
    server.process.wait_for("RuntimeError: consumer blew up")
    assert client.request("GET", "/hello").status == 200  # the connection and worker go on


def test_pipelined_requests_are_answered_in_order(server):
    client = server.connect()
    paths = ["/echo/1", "/stream/2", "/nowhere", "/echo/2", "/hello"]
    client.send(b"".join(_get(p) for p in paths))
    replies = [client.read() for _ in paths]
    assert [r.status for r in replies] == [200, 200, 404, 200, 200]
    assert json.loads(replies[0].body)["path"] == "/echo/1"
    assert replies[1].body == b"part 0\npart 1\n"
    assert json.loads(replies[3].body)["path"] == "/echo/2"
    assert replies[4].body == b"hello"


def test_head_gets_headers_without_a_body(server):
    client = server.connect()
    reply = client.request("HEAD", "/hello")
    assert reply.status == 200
    assert reply.header("content-length") == "5"
    assert reply.body == b""
    assert client.request("GET", "/hello").body == b"hello"  # nothing stray was written


def test_chunked_request_body_is_reassembled(server):
    client = server.connect()
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    client.send(_get("/echo", "POST", "Transfer-Encoding: chunked\r\n") + body)
    seen = json.loads(client.read().body)
    assert (seen["body_length"], seen["body_start"]) == (11, "hello world")


def test_streamed_response_is_chunked(server):
    client = server.connect()
    client.send(_get("/stream/3"))
    head = client.read_head()
    assert head.status == 200
    assert head.getheader("transfer-encoding") == "chunked"
    assert head.read() == b"part 0\npart 1\npart 2\n"
    assert client.request("GET", "/hello").body == b"hello"


def test_http10_streamed_response_ends_with_the_connection(server):
    client = server.connect()
    client.send(b"GET /stream/2 HTTP/1.0\r\n\r\n")
    reply = client.read()
    assert reply.body == b"part 0\npart 1\n"
    assert reply.header("transfer-encoding") is None
    assert client.closed()


def test_http10_keep_alive_when_asked(server):
    client = server.connect()
    client.send(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    reply = client.read()
    assert reply.header("connection") == "keep-alive"
    assert client.request("GET", "/hello").body == b"hello"


def test_connection_close_is_honoured(server):
    client = server.connect()
    reply = client.request("GET", "/hello", {"Connection": "close"})
    assert reply.header("connection") == "close"
    assert client.closed()


def test_expect_100_continue(server):
    client = server.connect()
    client.send(_get("/echo", "POST", "Content-Length: 4\r\nExpect: 100-continue\r\n"))
    assert client.reader.readline() == b"HTTP/1.1 100 Continue\r\n"
    assert client.reader.readline() == b"\r\n"
    client.send(b"data")
    seen = json.loads(client.read().body)
    assert seen["body_start"] == "data"


def test_message_has_the_contract_keys(server):
    client = server.connect()
    reply = client.request("POST", "/echo/x?a=1&b=2", {"X-Thing": "yes"}, b"payload")
    seen = json.loads(reply.body)
    assert seen["method"] == "POST"
    assert seen["http_version"] == "1.1"
    assert seen["scheme"] == "http"
    assert seen["path"] == "/echo/x"
    assert seen["query_string"] == "a=1&b=2"
    assert seen["root_path"] == ""
    assert seen["body_channel"] is None
    assert seen["client"][0] == "127.0.0.1"
    assert seen["server"] == ["127.0.0.1", server.port]
    assert ["x-thing", "yes"] in seen["headers"]
    assert seen["reply_channel"].startswith("http.response.")
    assert "!" in seen["reply_channel"]


def _get(path: str, method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n".encode()


def test_sigterm_finishes_requests_in_flight_closes_idle_ones_and_exits_0(server):
    idle = server.connect()
    assert idle.request("GET", "/hello").status == 200
    busy = server.connect()
    busy.send(b"GET /later/1 HTTP/1.1\r\nHost: t\r\n\r\n")
    server.process.wait_for("long-poll of 1s begins")
    server.process.signal()
    assert idle.closed()  # the idle keep-alive connection is closed at once
    reply = busy.read()
    assert (reply.status, reply.body) == (200, b"late reply")
    assert reply.header("connection") == "close"
    assert server.process.wait(20) == 0
