"""Attacks replayed from outside: raw sockets against a real ``gateways serve``. Each test
names the defect it guards against and asserts the bound (a status, an order, a byte
count the server exposes on ``/metrics``, its memory)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from gateways_http.body import CHUNK, HIGH_WATER, WINDOW

from gateways.testing import GatewaysProcess
from tests.fixtures.http import RawClient

MiB = 1024 * 1024
#: What one read of a socket brings at most (Twisted reads 64 KiB at a time).
READ = 64 * 1024


def metrics_url(process: GatewaysProcess) -> str:
    return process.wait_for(r"metrics on (http://\S+)")[1]


def buffered(url: str) -> dict[str, float]:
    """``gateways_http_buffered_bytes`` by ``where``: head, body, unread."""
    text = httpx.get(url + "/metrics", timeout=10).text
    pattern = r'^gateways_http_buffered_bytes\{where="(\w+)"\} (\S+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.MULTILINE)}


def until(read: Callable[[], Any], holds: Callable[[Any], bool], timeout: float = 20) -> Any:
    """Read again until ``holds(value)``; the last value seen is in the failure."""
    done = threading.Event()
    value = read()
    for _ in range(int(timeout / 0.02)):
        if holds(value):
            return value
        done.wait(0.02)  # polling a condition the server reaches on its own
        value = read()
    raise AssertionError(f"never held; last seen: {value!r}")


def rss(process: GatewaysProcess) -> int:
    with open(f"/proc/{process.proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def send_tolerantly(sock: socket.socket, data: bytes) -> bool:
    """Send; False once the server has closed (it may refuse mid-way)."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def read_to_end(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


# -- 1. a header line that never ends -------------------------------------------------------


def test_an_endless_header_line_gets_431_and_the_bytes_held_are_released(http_server):
    """Regression: an unfinished header line was only measured once it ended, and the
    connection kept every byte: 10 connections sending ``X-Long: aaaa...`` without a
    newline took the server from 149 MB to 2 GB."""
    server = http_server("--http-max-headers", "4096", "--metrics-port", "0")
    url = metrics_url(server.process)
    before = rss(server.process)
    start = b"GET /hello HTTP/1.1\r\nHost: h\r\nX-Long: " + b"a" * 3000
    clients = [server.connect() for _ in range(10)]
    for client in clients:
        client.send(start)
    held = until(lambda: buffered(url), lambda b: b["head"] >= 10 * len(start))
    assert held["head"] == 10 * len(start)  # what is held is counted, and only that

    piece = b"a" * READ
    for _ in range(16):  # 1 MiB more on each: 256 times the limit, never a newline
        for client in clients:
            send_tolerantly(client.sock, piece)
    for client in clients:
        reply = client.read()
        assert reply.status == 431
        assert client.closed()
    assert until(lambda: buffered(url), lambda b: b["head"] == 0)["head"] == 0
    assert rss(server.process) - before < 32 * MiB  # 10 MiB sent; nothing kept


def test_a_header_line_under_the_limit_across_many_reads_is_fine(http_server):
    server = http_server("--http-max-headers", "4096")
    client = server.connect()
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.send(b"GET /echo HTTP/1.1\r\nHost: h\r\nX-Slow: ")
    for _ in range(30):  # 3,000 bytes in 30 segments: each read adds to the line
        client.send(b"b" * 100)
    client.send(b"\r\n\r\n")
    assert client.read().status == 200


# -- 2. a large body to a slow consumer ------------------------------------------------------


def upload(address: tuple[str, int], size: int, into: dict[str, Any]) -> None:
    """POST ``size`` bytes to /slow-digest with a content-length; the reply into ``into``."""
    sha = hashlib.sha256()
    piece = bytes(range(256)) * (READ // 256)
    with socket.create_connection(address) as sock:
        sock.settimeout(60)
        head = b"POST /slow-digest HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % size
        sock.sendall(head)
        for _ in range(size // len(piece)):
            sock.sendall(piece)
            sha.update(piece)
        into["sha256"] = sha.hexdigest()
        into["reply"] = RawClient(sock, timeout=60).read()


def test_a_large_upload_to_a_slow_consumer_is_held_within_a_window(http_server):
    """Regression: bodies were held whole while they arrived (the connection kept every
    chunk, the layer took up to its capacity of them): four 90 MB uploads to a streaming
    consumer took 181 to 574 MB, without bound with ``--http-max-body 0``."""
    server = http_server("--http-max-body", "0", "--metrics-port", "0")
    url = metrics_url(server.process)
    before = rss(server.process)
    size = 48 * MiB
    result: dict[str, Any] = {}
    sender = threading.Thread(target=upload, args=((server.host, server.port), size, result))
    sender.start()
    peak = {"head": 0.0, "body": 0.0, "unread": 0.0}
    peak_rss = before
    while sender.is_alive():
        for where, held in buffered(url).items():
            peak[where] = max(peak[where], held)
        peak_rss = max(peak_rss, rss(server.process))
        sender.join(0.02)
    assert result["reply"].status == 200
    assert json.loads(result["reply"].body) == {"sha256": result["sha256"], "length": size}
    # Held in the interface: what waits to be sent, plus at most one read and one chunk
    # in the making; in the layer: the window, plus the chunk that found it full.
    assert 0 < peak["body"] <= HIGH_WATER + 3 * CHUNK + READ
    assert 0 < peak["unread"] <= (WINDOW + 1) * CHUNK
    assert peak_rss - before < 32 * MiB  # 48 MiB went through


# -- 3. a body cut off -----------------------------------------------------------------------


def test_a_body_cut_off_ends_the_consumers_stream_with_its_reason(http_server):
    """Regression: a consumer reading ``body_channel`` waited forever when the client left
    part-way or the body passed ``--http-max-body`` part-way."""
    server = http_server("--http-max-body", str(2 * MiB))
    client = server.connect()
    client.send(b"POST /read-body HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (MiB + 1))
    client.send(b"x" * (600 * 1024))  # past the first chunk: the consumer is reading
    client.close()
    server.process.wait_for(r"body of /read-body ended after \d+ bytes: client disconnected")

    client = server.connect()
    client.send(b"POST /read-body HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(3 * MiB // READ):  # no length said: the limit shows part-way
        if not send_tolerantly(client.sock, b"%x\r\n%s\r\n" % (READ, b"y" * READ)):
            break
    assert client.read().status == 413
    server.process.wait_for(r"body of /read-body ended after \d+ bytes: body too large")


# -- 4. a good request, then garbage -----------------------------------------------------------


@pytest.fixture
def server(http_server):
    return http_server()


@pytest.mark.parametrize("path", [b"/hello", b"/later/0.3"], ids=["at-once", "later"])
def test_a_complete_request_is_answered_before_the_400_for_what_follows(server, path):
    """Regression: ``GET /x ...\\r\\n\\r\\nXX\\r\\n\\r\\n`` ran /x but closed the connection
    for the garbage before /x's answer was sent."""
    client = server.connect()
    client.send(b"GET " + path + b" HTTP/1.1\r\nHost: h\r\n\r\nXX\r\n\r\n")
    assert client.read().status == 200
    refused = client.read()
    assert refused.status == 400
    assert refused.header("connection") == "close"
    assert client.closed()


def test_pipelined_requests_are_all_answered_before_a_refused_one(server):
    client = server.connect()
    client.send(
        b"GET /later/0.2 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET /hello HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n"
    )
    assert client.read().body == b"late reply"
    assert client.read().body == b"hello"
    assert client.read().status == 400
    assert client.closed()


@pytest.mark.parametrize("line", [b"GET /hello\r\n", b"PRI *\n\r\n /hello HTTP/1.1\r\n"])
def test_a_request_line_without_a_version_gets_400_not_an_http_0_9_answer(server, line):
    """llhttp reads ``GET /x`` with no version as HTTP/0.9 (found by the HTTP fuzzer)."""
    client = server.connect()
    client.send(line + b"Host: h\r\n\r\n")
    refused = client.read()
    assert refused.status == 400
    assert b"HTTP version" in refused.body
    assert client.closed()


# -- 5. a client that half-closes ---------------------------------------------------------------


@pytest.mark.parametrize("version", [b"1.0", b"1.1"])
@pytest.mark.parametrize("path", [b"/hello", b"/later/0.3"], ids=["at-once", "later"])
def test_a_half_closed_client_gets_its_answer(server, version, path):
    """Regression: a client that shut its sending side after the request
    (``shutdown(SHUT_WR)``) got no response, though the request ran."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"GET " + path + b" HTTP/" + version + b"\r\nHost: h\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        answer = read_to_end(sock)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"hello" if path == b"/hello" else b"late reply")


def test_a_half_closed_client_gets_every_pipelined_answer(server):
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(
            b"GET /later/0.2 HTTP/1.1\r\nHost: h\r\n\r\n"
            b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n"
            b"GET /unfinished HTTP/1.1\r\nHo"  # never complete: never run
        )
        sock.shutdown(socket.SHUT_WR)
        answer = read_to_end(sock)
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert answer.index(b"late reply") < answer.index(b"hello")
    assert answer.endswith(b"hello")


# -- found by tests/fuzz/test_http_fuzz.py -----------------------------------------------------


@pytest.mark.parametrize("hosts", [b"", b"Host: a\r\nHost: b\r\n"], ids=["no-host", "two-hosts"])
def test_fuzz_found_an_http11_request_without_exactly_one_host_was_served(server, hosts):
    """RFC 9112 3.2: 400 for an HTTP/1.1 request with no Host, or more than one."""
    client = server.connect()
    client.send(b"GET /echo HTTP/1.1\r\n" + hosts + b"\r\n")
    assert client.read().status == 400
    assert client.closed()
    fine = server.connect()
    fine.send(b"GET /hello HTTP/1.0\r\n\r\n")  # HTTP/1.0 needs none
    assert fine.read().body == b"hello"


@pytest.mark.parametrize(
    ("codings", "status"),
    [
        ([b"chunk", b"chunked"], 501),
        ([b"gzip, chunked"], 501),
        ([b"chunked", b"chunked"], 400),
    ],
    ids=["unknown-then-chunked", "gzip-chunked", "chunked-twice"],
)
def test_fuzz_found_transfer_codings_other_than_chunked_were_read_as_chunked(
    server, codings, status
):
    """llhttp reads any list ending in ``chunked`` as chunked; the body the consumer got
    would still be in the other codings. RFC 9112 6.1: 501 for a coding not understood."""
    client = server.connect()
    lines = b"".join(b"Transfer-Encoding: %s\r\n" % coding for coding in codings)
    client.send(b"POST /echo HTTP/1.1\r\nHost: h\r\n" + lines + b"\r\n4\r\ndata\r\n0\r\n\r\n")
    assert client.read().status == status
    assert client.closed()


def test_client_bytes_reach_the_access_log_escaped(http_server):
    """A header's obs-text bytes (a C1 control like \\x9b starts a terminal escape) and
    quotes are written escaped, never raw."""
    server = http_server("--access-log", "-")
    client = server.connect()
    client.send(b'GET /hello HTTP/1.1\r\nHost: h\r\nUser-Agent: a\x9b31m"b\r\n\r\n')
    assert client.read().status == 200
    line = server.process.wait_for(r'"GET /hello HTTP/1.1" 200').string
    assert line.endswith('"a\\x9b31m\\"b"')


def test_a_large_upload_streams_through_redis_within_the_window(
    make_redis_server, http_server, gateways_process
):
    """The window is counted on the layer (``channel_figures``): Redis counts too."""
    redis = make_redis_server()
    server = http_server("--layer", redis.url)
    gateways_process("worker", "http_app:routes", "--layer", redis.url)
    blob = bytes(range(256)) * (4 * 8192)  # 8 MiB: 32 chunks through a window of 4
    reply = httpx.post(server.url + "/slow-digest", content=blob, timeout=60)
    assert reply.json() == {"sha256": hashlib.sha256(blob).hexdigest(), "length": len(blob)}
