"""Opening a socket: same port as HTTP, accept/reject by the consumer, timeouts,
subprotocols and the ``order`` of every message."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

from tests.websocket.rawclient import RawSocket, request


async def test_http_and_websocket_share_one_port(served):
    url = f"http://{served.host}:{served.port}/page"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
    assert body == b"plain http"
    async with served.connect("/echo") as ws:
        await ws.send("same port")
        assert await ws.recv() == "same port"


async def test_connect_message_carries_headers_cookies_and_request_fields(served):
    headers = {"Cookie": "session=abc123; theme=dark", "X-Custom": "yes"}
    async with served.connect("/scope?room=7&x=%20y", additional_headers=headers) as ws:
        seen = json.loads(await ws.recv())
    assert seen["path"] == "/scope"
    assert seen["query_string"] == "room=7&x=%20y"
    assert seen["scheme"] == "ws"
    assert seen["root_path"] == ""
    assert seen["order"] == 0
    assert seen["subprotocols"] == []
    assert seen["reply_channel"].startswith("websocket.send.")
    assert "!" in seen["reply_channel"]
    assert seen["client"][0] == "127.0.0.1"
    assert seen["server"] == ["127.0.0.1", served.port]
    headers_seen = dict((name, value) for name, value in seen["headers"])
    assert headers_seen["cookie"] == "session=abc123; theme=dark"
    assert headers_seen["x-custom"] == "yes"
    assert headers_seen["upgrade"].lower() == "websocket"


async def test_without_the_websocket_plugin_http_answers_the_upgrade_itself(serve_ws):
    only_http = serve_ws(plugins=("--plugin", "http"))
    # Plain http.request for /echo, which no HTTP route takes.
    assert await only_http.refused("/echo") == 404


async def test_socket_opens_only_once_the_consumer_accepts(served):
    raw = await RawSocket.open(served.host, served.port)
    started = time.monotonic()
    head = await raw.handshake(request("/silent", f"{served.host}:{served.port}"))
    waited = time.monotonic() - started
    await raw.close()
    # Nothing (no 101) came before the consumer's silence ran out after 1 s.
    assert head.startswith(b"HTTP/1.1 503"), head
    assert waited >= 0.9
    served.process.wait_for(r"no consumer answered websocket.connect within 1.0s")


async def test_no_answer_within_connect_timeout_refuses(served):
    assert await served.refused("/silent") == 503


async def test_accept_false_rejects_with_403(served):
    assert await served.refused("/reject") == 403


async def test_close_before_accept_rejects_with_403(served):
    assert await served.refused("/close") == 403


async def test_sending_data_opens_the_socket_without_explicit_accept(served):
    async with served.connect("/scope") as ws:
        assert json.loads(await ws.recv())["path"] == "/scope"


async def test_subprotocol_negotiation(served):
    async with served.connect("/subprotocol", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
    async with served.connect("/subprotocol", subprotocols=["chat.v1"]) as ws:
        assert ws.subprotocol is None


async def test_subprotocols_offered_reach_the_consumer(served):
    async with served.connect("/scope", subprotocols=["a.v1", "b.v2"]) as ws:
        assert json.loads(await ws.recv())["subprotocols"] == ["a.v1", "b.v2"]


async def test_accepting_a_subprotocol_the_client_never_offered_is_refused(served):
    assert await served.refused("/bad-subprotocol", subprotocols=["chat.v1"]) == 500
    served.process.wait_for(r"accepted subprotocol 'never-offered'")


async def test_unrouted_path_is_refused_with_404_at_once(served):
    started = time.monotonic()
    assert await served.refused("/nowhere") == 404
    assert time.monotonic() - started < 1.0  # not the 1 s connect timeout


async def test_connect_consumer_failure_refuses_with_500(served):
    assert await served.refused("/explode") == 500
    served.process.wait_for(r"RuntimeError: connect consumer blew up")


async def test_every_message_carries_its_order(served):
    async with served.connect("/watch") as watcher:
        assert await watcher.recv() == "watching"
        async with served.connect("/tell") as ws:
            for expected in ("1", "2", "3"):
                await ws.send("order")
                assert await ws.recv() == expected
            await ws.close(code=4000)
        disconnect = json.loads(await watcher.recv())
    assert disconnect["order"] == 4
    assert disconnect["code"] == 4000
    assert disconnect["path"] == "/tell"
