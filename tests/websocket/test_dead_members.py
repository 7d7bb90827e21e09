"""A socket whose close goes unreported (``websocket.disconnect`` is a notice: dropped
when its channel is full, see test_notices.py) never runs the consumer that takes it out
of its groups. Its interface takes it out instead, the first time one of the group's
messages reaches its dead reply channel: later ``group_send`` calls no longer reach it,
and live members get their messages as before (issue 13: 10,000 such members made every
broadcast cost three times the CPU)."""

from __future__ import annotations

import re

import pytest

ROOM = "/room/lobby"  # tests/apps/websocket_app.py: joins room-lobby, says to it
DEAD = 3


@pytest.fixture(params=["memory", "redis"])
def layer_flags(request: pytest.FixtureRequest) -> tuple[str, ...]:
    if request.param == "memory":
        return ()
    return ("--layer", request.getfixturevalue("redis_layer_url"), "--workers", "1")


async def test_a_socket_whose_close_went_unreported_leaves_its_group(
    serve_ws, tmp_path, layer_flags
):
    config = tmp_path / "gateways.toml"
    config.write_text("[layer]\ncapacity = 2\n")
    # No worker takes websocket.disconnect: it fills, then closes are dropped.
    flags = ("--config", str(config), "--log-level", "debug")
    served = serve_ws(*flags, *layer_flags, "--exclude-channels", "websocket.disconnect")
    lines = served.process.lines
    dead = [await _joined_and_closed(served) for _ in range(DEAD)]

    async with served.connect(ROOM) as live:
        mark = len(lines)
        await live.send("first")
        assert await live.recv() == "first"  # no mark: the socket got the text alone
        for channel in dead:
            served.process.wait_for(rf"{re.escape(channel)} left group room-lobby", start=mark)
        mark = len(lines)
        await live.send("second")
        assert await live.recv() == "second"
    served.process.wait_for(r" closed 1000 after", start=mark)  # every earlier line is in
    reached = [line for line in lines[mark:] if any(c in line for c in dead)]
    assert reached == []


async def _joined_and_closed(served) -> str:
    """Open a socket in room-lobby and close it; its reply channel."""
    mark = len(served.process.lines)
    async with served.connect(ROOM):
        channel = served.process.wait_for(r"accepted as (\S+)", start=mark)[1]
    served.process.wait_for(r" closed 1000 after", start=mark)
    return channel
