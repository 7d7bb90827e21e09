"""SIGTERM: open sockets are closed with 1001 (going away) and the process exits 0."""

from __future__ import annotations

import asyncio
import signal

from tests.websocket.conftest import next_close


async def test_sigterm_closes_open_sockets_with_1001_and_exits_zero(served):
    sockets = [await served.connect("/echo") for _ in range(5)]
    for ws in sockets:
        await ws.send("up")
        assert await ws.recv() == "up"
    served.process.signal(signal.SIGTERM)
    codes = await asyncio.gather(*(next_close(ws) for ws in sockets))
    assert codes == [1001] * 5
    assert await asyncio.to_thread(served.process.wait, 20) == 0
    assert "websocket: closing 5 socket(s)" in served.process.output


async def test_handshake_during_drain_is_refused_and_pending_one_gets_503(serve_ws):
    server = serve_ws("--ws-connect-timeout", "30")
    async with server.connect("/echo") as ws:  # keeps the drain waiting for its close
        pending = asyncio.create_task(server.refused("/silent"))
        await asyncio.to_thread(server.process.wait_for, "leaving websocket.connect for /silent")
        server.process.signal(signal.SIGTERM)
        assert await next_close(ws) == 1001
        assert await pending == 503
