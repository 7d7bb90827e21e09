"""Routing: regex filters from the start, named groups as kwargs, include strips prefixes."""

from __future__ import annotations

import pytest

from gateways import Router, include, route
from gateways.routing import load_routing
from gateways.testing import HttpCommunicator


def view(message, **kwargs):
    return kwargs


def other(message, **kwargs):
    return kwargs


def test_filters_match_from_the_start_and_groups_become_kwargs():
    router = Router([route("http.request", view, path=r"^/hello/(?P<name>\w+)$")])
    assert router.match("http.request", {"path": "/hello/ada"}) == (view, {"name": "ada"})
    assert router.match("http.request", {"path": "/x/hello/ada"}) is None
    assert router.match("websocket.connect", {"path": "/hello/ada"}) is None


def test_match_is_from_the_start_even_without_caret():
    router = Router([route("http.request", view, path=r"/a")])
    assert router.match("http.request", {"path": "/a/b"}) == (view, {})
    assert router.match("http.request", {"path": "/b/a"}) is None


def test_every_filter_must_match_and_missing_keys_do_not():
    router = Router([route("http.request", view, path=r"^/$", method=r"^POST$")])
    assert router.match("http.request", {"path": "/", "method": "POST"}) == (view, {})
    assert router.match("http.request", {"path": "/", "method": "GET"}) is None
    assert router.match("http.request", {"path": "/"}) is None


def test_bytes_values_are_matched_too():
    router = Router([route("http.request", view, query_string=r"^page=(?P<page>\d+)")])
    assert router.match("http.request", {"query_string": b"page=3"}) == (view, {"page": "3"})


def test_include_strips_the_prefix_and_merges_groups():
    chat = [route("websocket.connect", other, path=r"^/(?P<room>\w+)/$")]
    router = Router([include(chat, path=r"^/chat/(?P<site>\w+)"), route("websocket.connect", view)])
    assert router.match("websocket.connect", {"path": "/chat/eu/lobby/"}) == (
        other,
        {"site": "eu", "room": "lobby"},
    )
    assert router.match("websocket.connect", {"path": "/elsewhere"}) == (view, {})
    assert router.channels == {"websocket.connect"}


def test_first_matching_route_wins():
    router = Router([route("a", view), route("a", other)])
    assert router.match("a", {})[0] is view


def test_include_accepts_a_module_path():
    router = Router([include("tests.apps.core_app:inner", text=r"^nested ")])
    consumer, kwargs = router.match("line.receive", {"text": "nested zoe"})
    assert kwargs == {"name": "zoe"} and consumer.__name__ == "greet"


def test_load_routing_from_app_path_and_router_objects():
    assert load_routing("tests.apps.core_app:routes").channels == {"line.receive"}
    custom = Router([route("x", view)])
    assert load_routing(custom) is custom


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: route("bad name", view), ValueError),
        (lambda: route("ok", "not callable"), TypeError),
        (lambda: route("ok", view, path="("), ValueError),
        (lambda: Router(["nonsense"]), TypeError),
        (lambda: load_routing("tests.apps.core_app:missing"), ValueError),
        (lambda: load_routing("nocolon"), ValueError),
    ],
)
def test_bad_routing_is_a_clear_error(call, error):
    with pytest.raises(error):
        call()


async def test_groups_reach_the_consumer_as_keyword_arguments_through_a_worker():
    async def page(message, site, room, number):
        await message.reply({"status": 200, "content": f"{site} {room} {number}".encode()})

    rooms = [
        route("http.request", page, path=r"^/(?P<room>\w+)$", query_string=r"n=(?P<number>\d)")
    ]
    routes = [include(rooms, path=r"^/chat/(?P<site>\w+)")]
    response = await HttpCommunicator(routes, "GET", "/chat/eu/lobby?n=7").get_response()
    assert response.body == b"eu lobby 7"
