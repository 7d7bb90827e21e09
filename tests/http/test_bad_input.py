"""Bad input, spoken as raw bytes: each refusal is named, answered clearly, and the
connection closes where the stream can no longer be trusted."""

from __future__ import annotations

import json
import time

import pytest


@pytest.fixture
def server(http_server):
    return http_server(
        "--http-max-request-line", "1024",
        "--http-max-headers", "4096",
        "--http-header-timeout", "1",
        "--http-idle-timeout", "1",
    )  # fmt: skip


SMUGGLING = {
    "content-length-with-transfer-encoding": (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
    ),
    "two-different-content-lengths": (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 30\r\n\r\n"
        b"dataGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
    ),
    "malformed-chunk-size": (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4x\r\ndata\r\n0\r\n\r\n"
    ),
    "negative-chunk-size": (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"-4\r\ndata\r\n0\r\n\r\n"
    ),
    "transfer-encoding-not-ending-in-chunked": (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
        b"4\r\ndata\r\n0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("attempt", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_request_smuggling_gets_400_and_the_connection_closes(server, attempt):
    client = server.connect()
    client.send(attempt)
    reply = client.read()
    assert reply.status == 400
    assert reply.header("connection") == "close"
    assert client.closed()  # the smuggled second request is never answered


def test_oversized_request_line_gets_414(server):
    client = server.connect()
    client.send(b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert client.read().status == 414
    assert client.closed()


def test_oversized_headers_get_431(server):
    client = server.connect()
    client.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 5000 + b"\r\n\r\n")
    assert client.read().status == 431
    assert client.closed()


def test_too_many_header_lines_get_431(server):
    client = server.connect()
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(150))
    client.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n")
    assert client.read().status == 431


def test_header_names_with_underscore_are_not_passed_on(server):
    client = server.connect()
    reply = client.request(
        "GET", "/echo", {"X_Forwarded_For": "6.6.6.6", "X-Real": "kept", "X_Other": "gone"}
    )
    names = [name for name, _ in json.loads(reply.body)["headers"]]
    assert "x-real" in names
    assert not [n for n in names if "_" in n]


@pytest.mark.parametrize(
    "line",
    [b"Bad Name: x", b"X-Nul: a\x00b", b"X-Cr: a\rb", b"(paren): x", b" Folded: x"],
    ids=["space-in-name", "nul-in-value", "bare-cr", "separator-in-name", "leading-space"],
)
def test_invalid_header_characters_get_400(server, line):
    client = server.connect()
    client.send(b"GET /echo HTTP/1.1\r\nHost: t\r\n" + line + b"\r\n\r\n")
    assert client.read().status == 400
    assert client.closed()


@pytest.mark.parametrize("kind", ["crlf", "lf", "nul", "name"])
def test_cr_lf_nul_in_response_headers_are_refused_and_logged(server, kind):
    client = server.connect()
    client.send(b"GET /badheader/" + kind.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    reply = client.read()
    assert reply.status == 500
    assert reply.header("x-bad") is None
    assert reply.header("x-injected") is None
    assert b"never" not in reply.body
    server.process.wait_for("refused a reply to GET /badheader/" + kind)
    assert client.request("GET", "/hello").body == b"hello"  # the stream stayed clean


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("/echo/caf%C3%A9", "/echo/café"),
        ("/echo/%E6%97%A5%E6%9C%AC", "/echo/日本"),
        ("/echo/a%20b%2Fc", "/echo/a b/c"),
        ("/echo/%FF%FE", "/echo/\ufffd\ufffd"),
    ],
    ids=["utf8-latin", "utf8-cjk", "space-and-slash", "invalid-utf8"],
)
def test_percent_encoded_paths_decode(server, raw, decoded):
    seen = json.loads(server.connect().request("GET", raw + "?q=%C3%A9").body)
    assert seen["path"] == decoded
    assert seen["query_string"] == "q=%C3%A9"  # the query string stays raw bytes


def test_raw_non_ascii_bytes_in_the_path_get_400(server):
    client = server.connect()
    client.send("GET /café HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    assert client.read().status == 400


def test_slowloris_is_cut_off_after_the_header_timeout(server):
    client = server.connect()
    started = time.monotonic()
    client.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n")
    client.send(b"X-Slow: 1\r\n")  # ...and the end of the headers never comes
    reply = client.read()
    assert reply.status == 408
    assert client.closed()
    assert 0.9 < time.monotonic() - started < 5


def test_idle_keep_alive_connection_closes_after_the_idle_timeout(server):
    client = server.connect()
    assert client.request("GET", "/hello").status == 200
    started = time.monotonic()
    assert client.closed()  # blocks until the server closes it
    assert 0.9 < time.monotonic() - started < 5


def test_garbage_gets_400(server):
    client = server.connect()
    client.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")
    assert client.read().status == 400
    assert client.closed()
