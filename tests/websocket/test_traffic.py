"""Frames both ways, close codes both ways, and group broadcasts."""

from __future__ import annotations

import asyncio
import json

from tests.websocket.conftest import next_close


async def test_text_and_binary_frames_both_ways(served):
    async with served.connect("/echo") as ws:
        await ws.send("héllo ✓")
        assert await ws.recv() == "héllo ✓"
        await ws.send(b"\x00\xffbinary")
        assert await ws.recv() == b"\x00\xffbinary"
        big = "x" * 200_000
        await ws.send(big)
        assert await ws.recv() == big


async def test_consumer_close_code_reaches_the_client(served):
    async with served.connect("/echo") as ws:
        await ws.send("close 4321")
        assert await next_close(ws) == 4321


async def test_client_close_code_reaches_the_consumer(served):
    async with served.connect("/watch") as watcher:
        assert await watcher.recv() == "watching"
        async with served.connect("/tell") as ws:
            await ws.close(code=4100, reason="bye")
        disconnect = json.loads(await watcher.recv())
    assert disconnect["code"] == 4100
    assert disconnect["reply_channel"].startswith("websocket.send.")


async def test_dropped_connection_reports_1006(served):
    async with served.connect("/watch") as watcher:
        assert await watcher.recv() == "watching"
        ws = await served.connect("/tell")
        ws.transport.abort()  # no close frame at all
        disconnect = json.loads(await watcher.recv())
    assert disconnect["code"] == 1006


async def test_malformed_reply_is_logged_and_the_socket_goes_on(served):
    async with served.connect("/echo") as ws:
        await ws.send("bad reply")
        assert await ws.recv() == "after the bad reply"
    served.process.wait_for(r"reply ignored: 'text' must be str, not bytes")


async def test_group_broadcast_reaches_every_member(served):
    members = [await served.connect("/room/lobby") for _ in range(10)]
    outsider = await served.connect("/room/other")
    try:
        await members[0].send("hello, lobby")
        heard = await asyncio.gather(*(m.recv() for m in members))
        assert heard == ["hello, lobby"] * 10
        await outsider.send("only others")
        assert await outsider.recv() == "only others"  # the lobby never hears it
        await members[3].send("second")
        assert await asyncio.gather(*(m.recv() for m in members)) == ["second"] * 10
    finally:
        await asyncio.gather(*(m.close() for m in [*members, outsider]))


async def test_closed_member_leaves_the_group_and_the_rest_still_hear(served):
    members = [await served.connect("/room/chess") for _ in range(3)]
    await members[2].close()
    await members[0].send("still here")
    assert await asyncio.gather(members[0].recv(), members[1].recv()) == ["still here"] * 2
    await asyncio.gather(members[0].close(), members[1].close())


async def test_broadcast_to_more_sockets_than_the_default_capacity(serve_ws):
    # All sockets of a process share one inbox, which is bigger than a channel's
    # capacity of 100; docs/websocket.md, "Capacity".
    server = serve_ws()
    members = [await server.connect("/room/big") for _ in range(150)]
    try:
        await members[0].send("to all 150")
        assert await asyncio.gather(*(m.recv() for m in members)) == ["to all 150"] * 150
    finally:
        await asyncio.gather(*(m.close() for m in members))
