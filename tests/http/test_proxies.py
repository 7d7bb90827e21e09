"""Trusted proxies (``--proxy-headers``, ``--forwarded-allow-ips``): forwarding headers
count only from trusted peers, and the client is the right-most address that is not one
of them, so a client cannot claim any address by sending the headers itself."""

from __future__ import annotations

import httpx
import pytest
from gateways_http.proxy import TrustedProxies, resolve

LOCAL = ["127.0.0.1", 50000]


def _resolve(headers: dict[str, str], trusted: str = "127.0.0.1", peer=LOCAL):
    raw = [[name.lower().encode(), value.encode()] for name, value in headers.items()]
    return resolve(raw, "http", list(peer), TrustedProxies.parse(trusted))


def test_the_right_most_untrusted_address_is_the_client() -> None:
    spoofed = {"X-Forwarded-For": "1.2.3.4, 203.0.113.7, 10.0.0.1"}
    assert _resolve(spoofed, "127.0.0.1, 10.0.0.0/8") == ("http", ["203.0.113.7", 0])
    # 10.0.0.1 is not ours here: it is the client, whatever it wrote to its left
    assert _resolve(spoofed, "127.0.0.1") == ("http", ["10.0.0.1", 0])


def test_an_untrusted_peer_is_not_believed() -> None:
    headers = {"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https"}
    stranger = ["198.51.100.9", 40000]
    assert _resolve(headers, "127.0.0.1", stranger) == ("http", stranger)


def test_rfc7239_forwarded_wins_and_reads_quoted_ipv6_with_port() -> None:
    headers = {
        "Forwarded": 'for=1.2.3.4, for="[2001:db8::17]:4711";proto=https;by=_proxy',
        "X-Forwarded-For": "9.9.9.9",
    }
    assert _resolve(headers) == ("https", ["2001:db8::17", 4711])


def test_hidden_and_unknown_nodes_leave_no_client_address() -> None:
    assert _resolve({"Forwarded": "for=unknown"}) == ("http", None)
    assert _resolve({"Forwarded": "for=_hidden;proto=https"}) == ("https", None)


def test_proto_is_the_nearest_proxys_and_ports_come_along() -> None:
    headers = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "http, https",
        "X-Forwarded-Port": "4433",
    }
    assert _resolve(headers) == ("https", ["203.0.113.7", 4433])
    assert _resolve({"X-Forwarded-Proto": "gopher"}) == ("http", LOCAL)


def test_everyone_and_unix_socket_peers() -> None:
    headers = {"X-Forwarded-For": "203.0.113.7"}
    assert _resolve(headers, "*", ["198.51.100.9", 1]) == ("http", ["203.0.113.7", 0])
    assert _resolve(headers, "unix", peer=[]) == ("http", ["203.0.113.7", 0])
    assert _resolve(headers, "127.0.0.1", peer=[]) == ("http", [])


def test_a_bad_address_is_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an IP address or network"):
        TrustedProxies.parse("127.0.0.1, 10.0.0.300")


# -- from outside, against a running server ----------------------------------------------

SPOOFED = {
    "X-Forwarded-For": "6.6.6.6, 203.0.113.7",
    "X-Forwarded-Proto": "https",
    "Forwarded": "for=6.6.6.6;proto=https",
}


def test_a_trusted_proxy_is_believed_from_outside(http_server) -> None:
    server = http_server("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1")
    seen = httpx.get(
        server.url + "/echo",
        headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.7", "X-Forwarded-Proto": "https"},
    ).json()
    assert (seen["client"], seen["scheme"]) == (["203.0.113.7", 0], "https")


def test_spoofed_headers_from_an_untrusted_peer_change_nothing(http_server) -> None:
    server = http_server("--proxy-headers", "--forwarded-allow-ips", "10.0.0.0/8")
    seen = httpx.get(server.url + "/echo", headers=SPOOFED).json()
    assert seen["client"][0] == "127.0.0.1" and seen["scheme"] == "http"


def test_without_proxy_headers_nothing_is_read(http_server) -> None:
    seen = httpx.get(http_server().url + "/echo", headers=SPOOFED).json()
    assert seen["client"][0] == "127.0.0.1" and seen["scheme"] == "http"


def test_a_bad_forwarded_allow_ips_stops_serve_with_exit_2(gateways_process) -> None:
    process = gateways_process(
        "serve",
        "http_app:routes",
        "--plugin",
        "http",
        "--forwarded-allow-ips",
        "nope",
        ready=None,
    )
    assert process.proc.wait(20) == 2
    process.wait_for("--forwarded-allow-ips.*'nope' is not an IP address or network")
