"""The WebSocket access log (logger ``gateways.websocket.access``): a line at connect, at
accept or reject (with why), and at close (code, duration), from a real server."""

from __future__ import annotations

import json
from typing import Any

from tests.websocket.conftest import Served

ACCESS = "gateways.websocket.access"


def access_records(served: Served) -> list[dict[str, Any]]:
    """The JSON access-log records the server printed so far, in order."""
    records = [json.loads(line) for line in served.process.lines if line.startswith("{")]
    return [record for record in records if record["logger"] == ACCESS]


async def test_connect_accept_and_close_are_logged_with_their_fields(serve_ws):
    served = serve_ws("--log-format", "json")
    async with served.connect("/echo") as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
        host, port = ws.local_address[:2]
    served.process.wait_for(r'"event": "close"')
    connect, accept, close = access_records(served)
    client = f"{host}:{port}"
    assert connect["event"] == "connect"
    assert (connect["client"], connect["path"], connect["level"]) == (client, "/echo", "INFO")
    assert connect["message"] == f"{client} /echo connect (Origin: -)"
    assert accept["event"] == "accept"
    assert accept["channel"].startswith("websocket.send.")
    assert accept["subprotocol"] is None
    assert close["event"] == "close"
    assert close["code"] == 1000
    assert close["channel"] == accept["channel"]
    assert 0 <= close["duration"] < 10
    assert close["message"] == f"{client} /echo closed 1000 after {close['duration']:.3f}s"


async def test_a_refused_origin_is_logged_with_the_origin_and_no_close(serve_ws):
    served = serve_ws()  # text format
    assert await served.refused("/echo", origin="http://evil.example") == 403
    line = served.process.wait_for(rf"{ACCESS}: .* /echo rejected 403: .*").group(0)
    assert "origin not allowed (refused Origin http://evil.example)" in line
    served.process.wait_for(rf"{ACCESS}: .* /echo connect \(Origin: http://evil.example\)")
    async with served.connect("/echo") as ws:  # a later socket: its close is the next line
        await ws.send("x")
        await ws.recv()
    served.process.wait_for(rf"{ACCESS}: .* /echo closed 1000")
    closes = [line for line in served.process.lines if " closed " in line]
    assert len(closes) == 1


async def test_a_consumer_refusal_is_logged_as_such(serve_ws):
    served = serve_ws("--log-format", "json")
    assert await served.refused("/reject") == 403
    served.process.wait_for(r'"event": "reject"')
    [reject] = [r for r in access_records(served) if r["event"] == "reject"]
    assert reject["status"] == 403
    assert reject["reason"] == "Forbidden (consumer refused)"
