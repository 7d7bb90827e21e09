"""The handshake policy functions on their own: origins, header values, replies."""

from __future__ import annotations

import pytest
from gateways_websocket.handshake import header_problem, origin_allowed, subprotocols
from gateways_websocket.replies import close_code, reply_problem

HOST = [[b"host", b"example.com:8000"]]


def with_origin(origin: str, host: list[list[bytes]] = HOST) -> list[list[bytes]]:
    return [*host, [b"origin", origin.encode()]]


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://example.com:8000", True),
        ("HTTP://EXAMPLE.COM:8000", True),
        ("http://example.com", False),  # port 80, not 8000
        ("http://evil.com:8000", False),
        ("http://example.com.evil.com:8000", False),
        ("null", False),
    ],
)
def test_default_allows_only_the_requests_own_host(origin, allowed):
    assert origin_allowed(with_origin(origin), "http", ()) is allowed


def test_default_ports_follow_the_scheme():
    host = [[b"host", b"example.com"]]
    assert origin_allowed(with_origin("https://example.com", host), "https", ())
    assert origin_allowed(with_origin("https://example.com:443", host), "https", ())
    assert not origin_allowed(with_origin("https://example.com", host), "http", ())


def test_no_origin_header_is_allowed_and_two_are_not():
    assert origin_allowed(HOST, "http", ())
    assert origin_allowed(HOST, "http", ("https://only.example",))
    two = [*with_origin("http://example.com:8000"), [b"origin", b"http://example.com:8000"]]
    assert not origin_allowed(two, "http", ())


@pytest.mark.parametrize(
    ("origin", "patterns", "allowed"),
    [
        ("https://app.example.com", ("https://app.example.com",), True),
        ("https://app.example.com:443", ("https://app.example.com",), True),
        ("http://app.example.com", ("https://app.example.com",), False),
        ("https://app.example.com:8443", ("https://app.example.com",), False),
        ("https://a.example.com", ("https://*.example.com",), True),
        ("https://a.example.com", ("*.example.com",), True),
        ("https://example.com", ("*.example.com",), False),
        ("http://localhost:3000", ("localhost:3000",), True),
        ("http://localhost:3001", ("localhost:3000",), False),
        ("http://anything.at.all", ("*",), True),
        ("null", ("null",), True),
        ("null", ("*",), False),
        ("http://example.com:8000", ("https://other.example",), False),  # list replaces default
    ],
)
def test_allowed_origin_patterns(origin, patterns, allowed):
    assert origin_allowed(with_origin(origin), "http", patterns) is allowed


@pytest.mark.parametrize("value", [b"a\x00b", b"a\rb", b"a\nb", b"\x1b[2J", b"del\x7f"])
def test_control_characters_in_header_values_are_a_problem(value):
    problem = header_problem([[b"host", b"x"], [b"x-name", value]])
    assert problem == "header x-name contains control characters"


def test_tabs_and_non_ascii_bytes_are_not():
    assert header_problem([[b"x-name", b"a\tb"], [b"x-latin", "café".encode()]]) is None


def test_subprotocols_from_every_header_in_order():
    headers = [
        [b"sec-websocket-protocol", b"a.v1, b.v2"],
        [b"sec-websocket-protocol", b"c"],
    ]
    assert subprotocols(headers) == ["a.v1", "b.v2", "c"]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ({"text": b"bytes"}, "'text' must be str, not bytes"),
        ({"bytes": "text"}, "'bytes' must be bytes, not str"),
        ({"close": "yes"}, "'close' must be bool or int, not str"),
        ({"accept": 1}, "'accept' must be bool, not int"),
        ({"accept": False, "status": 200}, "'status' must be an HTTP error status"),
    ],
)
def test_malformed_replies_are_named(reply, problem):
    assert reply_problem(reply).startswith(problem)


def test_close_codes():
    assert close_code({}, "c") is None
    assert close_code({"close": False}, "c") is None
    assert close_code({"close": True}, "c") == 1000
    assert close_code({"close": 4001}, "c") == 4001
    assert close_code({"close": 1011}, "c") == 1011
    assert close_code({"close": 1006}, "c") == 1000  # reserved: never on the wire
