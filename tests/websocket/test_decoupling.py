"""Interface and workers share only the Redis layer: restarting the only worker drops
no socket, and what clients send meanwhile is answered by the new worker."""

from __future__ import annotations

import asyncio

from tests.websocket.conftest import APP, PLUGINS, Served

SOCKETS = 20


async def test_sockets_survive_a_worker_restart(gateways_process, redis_layer_url):
    interface = gateways_process("serve", *PLUGINS, "--layer", redis_layer_url, "--http-port", "0")
    served = Served(interface, *interface.address("http"))
    first = gateways_process("worker", APP, "--layer", redis_layer_url)
    sockets = [await served.connect("/whoami") for _ in range(SOCKETS)]
    try:
        for ws in sockets:
            await ws.send("before")
        before = await asyncio.gather(*(ws.recv() for ws in sockets))
        assert before == [f"before from {first.proc.pid}"] * SOCKETS

        assert await asyncio.to_thread(first.stop) == 0  # SIGTERM: the only worker goes
        for ws in sockets:
            await ws.send("meanwhile")  # waits in Redis: nobody consumes it yet

        second = gateways_process("worker", APP, "--layer", redis_layer_url)
        after = await asyncio.gather(*(ws.recv() for ws in sockets))
        assert after == [f"meanwhile from {second.proc.pid}"] * SOCKETS
        assert all(ws.close_code is None for ws in sockets)  # never closed, never reopened
        for ws in sockets:
            await ws.send("still")
        assert (
            await asyncio.gather(*(ws.recv() for ws in sockets))
            == [f"still from {second.proc.pid}"] * SOCKETS
        )
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    assert "websocket: closing" not in interface.output
