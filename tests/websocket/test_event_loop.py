"""The WebSocket plugin shares the HTTP port on uvloop too (``--loop uvloop``)."""

from __future__ import annotations


async def test_a_websocket_echoes_on_uvloop(serve_ws):
    served = serve_ws("--loop", "uvloop")
    assert served.process.wait_for(r"event loop: (\w+)")[1] == "uvloop"
    async with served.connect("/echo") as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\x01")
        assert await ws.recv() == b"\x00\x01"
