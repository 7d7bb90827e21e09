"""HTTP/2 with real clients: curl and httpx, over TLS (ALPN ``h2``) and cleartext (h2c by
prior knowledge and by ``Upgrade: h2c``). Each stream is one ``http.request`` with
``http_version`` "2", answered by the same runtime as HTTP/1.1 (404, 413, 503 per stream).

Servers are shared by the tests of this module (started as the ``http_server`` fixture
does), so many clients meet one server; each test checks its log stays free of tracebacks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from gateways.testing import GatewaysProcess
from tests.fixtures.h2client import H2Client
from tests.fixtures.processes import APPS
from tests.fixtures.tls import TlsFiles

MiB = 1024 * 1024
BODY = bytes(range(256)) * (2 * MiB // 256)  # 2 MiB: the first chunk, then body_channel


@dataclass
class Server:
    process: GatewaysProcess
    http: str  # http://127.0.0.1:PORT (cleartext: h2c)
    https: str  # https://localhost:PORT (TLS: ALPN)
    tls: TlsFiles

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(http2=True, verify=self.tls.client_context(), timeout=20, **kwargs)


def start(tls: TlsFiles, *args: str) -> GatewaysProcess:
    endpoints = (
        "--http-endpoint", "tcp:port=0:interface=127.0.0.1",
        "--http-endpoint",
        f"ssl:port=0:interface=127.0.0.1:privateKey={tls.key}:certKey={tls.cert}",
    )  # fmt: skip
    return GatewaysProcess(
        ["serve", "http_app:routes", "--plugin", "http", *endpoints, *args],
        env={"PYTHONPATH": str(APPS)},
    )


@pytest.fixture(scope="module")
def server(tls_files: TlsFiles) -> Iterator[Server]:
    process = start(tls_files, "--http-max-body", str(3 * MiB))
    _, tls_port = process.address("https")
    yield Server(process, process.url, f"https://localhost:{tls_port}", tls_files)
    process.kill()


@pytest.fixture(autouse=True)
def no_traceback(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("server", "busy_server"):
        if name in request.fixturenames:
            process = request.getfixturevalue(name).process
            assert "Traceback" not in process.output, process.output


def curl(*args: str) -> tuple[str, str]:
    """curl's body and the HTTP version it used (``-w %{http_version}``)."""
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "-w", "\n%{http_version}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, version = done.stdout.rpartition("\n")
    return body, version


# -- how a connection becomes HTTP/2 ---------------------------------------------------


def test_curl_over_tls_negotiates_h2_by_alpn(server):
    body, version = curl("-k", "--http2", server.https + "/echo?x=1")
    assert version == "2"
    seen = json.loads(body)
    assert (seen["http_version"], seen["scheme"], seen["query_string"]) == ("2", "https", "x=1")
    assert ["host", server.https.removeprefix("https://")] in seen["headers"]  # :authority


def test_curl_h2c_by_upgrade_and_by_prior_knowledge(server):
    body, version = curl("--http2", server.http + "/echo")
    assert version == "2"
    seen = json.loads(body)
    assert (seen["http_version"], seen["scheme"], seen["method"]) == ("2", "http", "GET")
    names = [name for name, _ in seen["headers"]]
    assert "upgrade" not in names and "http2-settings" not in names  # stream 1 is plain
    body, version = curl("--http2-prior-knowledge", server.http + "/hello")
    assert (body, version) == ("hello", "2")


def test_upgrade_request_with_a_body_is_served_as_http11(server):
    """curl asks for h2c on a POST too: the upgrade is ignored, the body arrives whole."""
    body, version = curl("--http2", "--data-binary", "a=1&b=2", server.http + "/echo")
    assert version == "1.1"
    seen = json.loads(body)
    assert (seen["http_version"], seen["body_length"], seen["body_start"]) == ("1.1", 7, "a=1&b=2")
    big = b"z" * (300 * 1024)  # past one chunk: streamed over body_channel
    done = subprocess.run(
        ["curl", "-sS", "--http2", "--data-binary", "@-", server.http + "/digest"],
        input=big,
        capture_output=True,
        check=True,
    )
    assert json.loads(done.stdout) == {
        "sha256": hashlib.sha256(big).hexdigest(),
        "length": len(big),
    }


# -- requests and responses ------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["https", "h2c"])
def test_httpx_get_post_and_streaming(server, scheme):
    if scheme == "https":
        client, base = server.client(), server.https
    else:
        client, base = httpx.Client(http1=False, http2=True, timeout=20), server.http
    with client:
        reply = client.get(base + "/echo")
        assert reply.http_version == "HTTP/2"
        assert reply.json()["http_version"] == "2"
        reply = client.post(base + "/digest", content=BODY)  # streamed to body_channel
        assert reply.json() == {"sha256": hashlib.sha256(BODY).hexdigest(), "length": len(BODY)}
        with client.stream("GET", base + "/events") as events:
            assert events.headers["content-type"] == "text/event-stream"
            lines = [line for line in events.iter_lines() if line]
        assert lines == ["data: event 0", "data: event 1", "data: event 2"]
        reply = client.get(base + "/big/6")  # 3 MiB through the client's flow control
        assert len(reply.content) == 6 * 512 * 1024
        assert "content-length" not in reply.headers  # streamed: DATA frames end it
        head = client.head(base + "/hello")
        assert (head.status_code, head.content) == (200, b"")


def test_many_concurrent_streams_on_one_connection(server):
    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(http2=True, verify=server.tls.client_context()) as client:
            paths = [f"/echo?n={n}" for n in range(60)] + ["/nosuch", "/badheader/crlf"]
            return await asyncio.gather(*(client.get(server.https + path) for path in paths))

    replies = asyncio.run(main())
    seen = [reply.json() for reply in replies[:60]]
    assert [s["query_string"] for s in seen] == [f"n={n}" for n in range(60)]
    assert len({tuple(s["client"]) for s in seen}) == 1  # one connection
    # Each on its own stream: no route, and a reply that would split the headers.
    assert [reply.status_code for reply in replies[60:]] == [404, 500]


def test_body_over_the_limit_gets_413_on_its_stream(server):
    with server.client() as client:
        reply = client.post(server.https + "/digest", content=b"x" * (4 * MiB))
        assert reply.status_code == 413
        assert client.get(server.https + "/hello").text == "hello"  # the connection lives


# -- the interface's own answers, per stream ------------------------------------------


@pytest.fixture(scope="module")
def busy_server(tls_files: TlsFiles) -> Iterator[Server]:
    """One worker slot and room for one queued request; replies due within 3 s."""
    process = start(
        tls_files, "--layer", "memory://?capacity=1", "--concurrency", "1", "--http-timeout", "3"
    )
    _, tls_port = process.address("https")
    yield Server(process, process.url, f"https://localhost:{tls_port}", tls_files)
    process.kill()


def test_full_channel_and_timeout_answer_503_per_stream(busy_server):
    client = H2Client(busy_server.process.port())
    client.request(1, b"/hold/1.5")
    client.flush()
    busy_server.process.wait_for("holding a request")
    client.request(3, b"/hello")  # queued: the channel's one place
    client.request(5, b"/hello")  # finds the channel full
    client.flush()
    assert client.response(5) == (503, b"server busy, retry soon\n")
    assert client.response(1) == (200, b"held")
    assert client.response(3) == (200, b"hello")
    client.close()
    with httpx.Client(http1=False, http2=True, timeout=20) as h2c:
        late = h2c.get(busy_server.http + "/silent")  # no reply within --http-timeout
    assert (late.status_code, late.http_version) == (503, "HTTP/2")


def test_drain_finishes_streams_in_flight_then_closes(tls_files):
    process = start(tls_files)
    try:
        _, port = process.address("https")
        with httpx.Client(http2=True, verify=tls_files.client_context(), timeout=20) as client:

            def later() -> httpx.Response:
                return client.get(f"https://localhost:{port}/later/1")

            async def main() -> httpx.Response:
                reply = asyncio.ensure_future(asyncio.to_thread(later))
                await asyncio.to_thread(process.wait_for, "long-poll of 1s begins")
                process.signal(signal.SIGTERM)
                return await reply

            reply = asyncio.run(main())
        assert (reply.status_code, reply.text, reply.http_version) == (200, "late reply", "HTTP/2")
        assert process.wait(20) == 0
        assert "Traceback" not in process.output
    finally:
        process.kill()
