"""The http options of design section 4, each through a real server process."""

from __future__ import annotations

import json
import re
import socket
import ssl
import time

import httpx

from tests.fixtures.http import RawClient


def test_bind_and_port(http_server):
    server = http_server("--http-bind", "127.0.0.1")
    assert server.host == "127.0.0.1"
    assert httpx.get(server.url + "/hello").text == "hello"


def test_endpoints_tcp_unix_and_ssl_together(gateways_process, tmp_path, self_signed_cert):
    cert, key = self_signed_cert
    sock_path = tmp_path / "http.sock"
    process = gateways_process(
        "serve", "http_app:routes", "--plugin", "http",
        "--http-endpoint", "tcp:port=0:interface=127.0.0.1",
        "--http-endpoint", f"unix:{sock_path}",
        "--http-endpoint", f"ssl:port=0:interface=127.0.0.1:privateKey={key}:certKey={cert}",
    )  # fmt: skip
    host, port = process.address("http")
    assert httpx.get(f"http://{host}:{port}/hello").text == "hello"

    tls_host, tls_port = process.address("https")
    context = ssl.create_default_context(cafile=str(cert))
    reply = httpx.get(f"https://localhost:{tls_port}/echo", verify=context)
    assert reply.json()["scheme"] == "https"
    assert reply.json()["server"] == [tls_host, tls_port]

    unix = socket.socket(socket.AF_UNIX)
    unix.connect(str(sock_path))
    seen = json.loads(RawClient(unix).request("GET", "/echo").body)
    assert seen["client"] is None
    assert seen["server"] is None
    unix.close()


def test_bad_endpoint_string_is_a_clear_error(gateways_process):
    process = gateways_process(
        "serve", "http_app:routes", "--plugin", "http", "--http-endpoint", "nosuch:1234", ready=None
    )
    assert process.wait() != 0
    assert "nosuch:1234" in process.output


def test_no_reply_within_the_timeout_gets_503(http_server):
    server = http_server("--http-timeout", "1")
    started = time.monotonic()
    client = server.connect()
    reply = client.request("GET", "/silent")
    assert reply.status == 503
    assert 0.9 < time.monotonic() - started < 5
    server.process.wait_for("no reply to GET /silent within 1s: 503")
    assert client.request("GET", "/hello").body == b"hello"


def test_root_path_is_reported_and_stripped(http_server):
    server = http_server("--http-root-path", "/app/")
    seen = httpx.get(server.url + "/app/echo/x").json()
    assert (seen["root_path"], seen["path"]) == ("/app", "/echo/x")
    outside = httpx.get(server.url + "/echo/y").json()
    assert (outside["root_path"], outside["path"]) == ("/app", "/echo/y")


COMBINED = re.compile(
    r'^(?P<host>\S+) - - \[[^\]]+\] "(?P<line>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-) '
    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$'
)


def test_access_log_to_a_file_in_combined_format(http_server, tmp_path):
    path = tmp_path / "access.log"
    server = http_server("--access-log", str(path))
    client = server.connect()
    client.request("GET", "/hello?x=1", {"Referer": "http://ref/", "User-Agent": "probe/1"})
    client.request("GET", "/nowhere")
    lines = path.read_text().splitlines()
    first, second = (COMBINED.match(line) for line in lines)
    assert first["host"] == "127.0.0.1"
    assert first["line"] == "GET /hello?x=1 HTTP/1.1"
    assert (first["status"], first["size"]) == ("200", "5")
    assert (first["referer"], first["agent"]) == ("http://ref/", "probe/1")
    assert (second["status"], second["referer"]) == ("404", "-")


def test_access_log_to_stdout(http_server):
    server = http_server("--access-log", "-")
    server.connect().request("GET", "/hello")
    found = server.process.wait_for(r'"GET /hello HTTP/1.1" 200 5 ')
    assert COMBINED.match(found.string)


def test_body_over_max_body_gets_413(http_server):
    server = http_server("--http-max-body", "1000")
    client = server.connect()
    assert client.request("POST", "/echo", body=b"x" * 1000).status == 200
    reply = client.request("POST", "/echo", body=b"x" * 1001)
    assert reply.status == 413
    assert client.closed()

    chunked = server.connect()
    chunked.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"200\r\n" + b"y" * 0x200 + b"\r\n" + b"300\r\n" + b"y" * 0x300 + b"\r\n0\r\n\r\n"
    )  # fmt: skip
    assert chunked.read().status == 413


def test_expect_100_continue_over_max_body_gets_413_without_continue(http_server):
    server = http_server("--http-max-body", "10")
    client = server.connect()
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
    )
    assert client.reader.readline() == b"HTTP/1.1 413 Request Entity Too Large\r\n"


def test_options_come_from_environment_and_config_file(http_server, tmp_path):
    config = tmp_path / "gateways.toml"
    config.write_text('[http]\nroot-path = "/from-file"\n')
    server = http_server("--config", str(config), env={"GATEWAYS_PROXY_HEADERS": "true"})
    seen = httpx.get(server.url + "/from-file/echo", headers={"X-Forwarded-Proto": "https"}).json()
    assert (seen["root_path"], seen["scheme"]) == ("/from-file", "https")


def test_invalid_port_is_refused(gateways_process):
    process = gateways_process(
        "serve", "http_app:routes", "--plugin", "http", "--http-port", "70000", ready=None
    )
    assert process.wait() == 2
    assert "--http-port" in process.output
