"""The upgrade hand-over contract (``gateways_http_upgrade``), proven with a tiny echo
plugin: a taken-over connection gets the raw request bytes and the transport; a
declined one is answered as plain HTTP."""

from __future__ import annotations

import json
import socket
import ssl

import pytest

from tests.fixtures.http import RawClient

PLUGIN = ("--plugin", "http_plugins.upgrade_echo")
UPGRADE = (
    b"GET /app/chat%20room?x=1 HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
    b"Upgrade: echo\r\nX_Hidden: 1\r\nX-Forwarded-Proto: https\r\n\r\n"
)


@pytest.fixture
def server(http_server):
    return http_server(*PLUGIN, "--http-root-path", "/app", "--proxy-headers")


def _switch(client: RawClient) -> dict:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += client.reader.read(1)
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    seen_line = next(line for line in head.split(b"\r\n") if line.startswith(b"X-Seen: "))
    return json.loads(seen_line[len(b"X-Seen: ") :])


def test_upgrade_is_handed_over_with_the_raw_bytes(server):
    client = server.connect()
    client.send(UPGRADE + b"early bytes")
    seen = _switch(client)
    assert seen["request_line"] == "GET /app/chat%20room?x=1 HTTP/1.1"
    assert (seen["path"], seen["raw_path"], seen["root_path"]) == (
        "/chat room",
        "/app/chat%20room",
        "/app",
    )
    assert seen["query_string"] == "x=1"
    assert seen["scheme"] == "https"  # --proxy-headers applied, as for http.request
    assert seen["client"][0] == "127.0.0.1"
    assert seen["server"] == ["127.0.0.1", server.port]
    assert ["upgrade", "echo"] in seen["headers"]
    assert not [n for n, _ in seen["headers"] if "_" in n]
    assert client.reader.read(len(b"echo:early bytes")) == b"echo:early bytes"
    client.send(b"later")
    assert client.reader.read(len(b"echo:later")) == b"echo:later"
    server.process.wait_for("echo protocol took over /chat room")


def test_pipelined_request_before_the_upgrade_is_answered_first(server):
    client = server.connect()
    client.send(b"GET /app/hello HTTP/1.1\r\nHost: t\r\n\r\n" + UPGRADE + b"x")
    assert client.read().body == b"hello"
    assert _switch(client)["path"] == "/chat room"
    assert client.reader.read(6) == b"echo:x"


def test_declined_upgrade_is_answered_as_plain_http(server):
    client = server.connect()
    client.send(
        b"GET /app/echo/up HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
        b"GET /app/hello HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    seen = json.loads(client.read().body)
    assert seen["path"] == "/echo/up"
    assert ["upgrade", "h2c"] in seen["headers"]
    assert client.read().body == b"hello"  # parsing went on after the declined upgrade


def test_empty_upgrade_header_is_a_plain_request(server):
    client = server.connect()
    client.send(b"GET /app/hello HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: \r\n\r\n")
    assert client.read().body == b"hello"


def test_connect_method_gets_405(server):
    client = server.connect()
    client.send(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert client.read().status in (400, 405)
    assert client.closed()


def test_upgrade_over_tls(gateways_process, self_signed_cert):
    cert, key = self_signed_cert
    process = gateways_process(
        "serve", "http_app:routes", "--plugin", "http", *PLUGIN, "--http-endpoint",
        f"ssl:port=0:interface=127.0.0.1:privateKey={key}:certKey={cert}",
    )  # fmt: skip
    _, port = process.address("https")
    context = ssl.create_default_context(cafile=str(cert))
    context.set_alpn_protocols(["http/1.1"])
    raw = context.wrap_socket(
        socket.create_connection(("127.0.0.1", port)), server_hostname="localhost"
    )
    client = RawClient(raw)
    client.send(UPGRADE.replace(b"X-Forwarded-Proto: https\r\n", b"") + b"tls")
    assert _switch(client)["scheme"] == "https"
    assert client.reader.read(8) == b"echo:tls"
    client.close()
