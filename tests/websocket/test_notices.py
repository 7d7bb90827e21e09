"""``websocket.disconnect`` is a notice: when its channel is full (its consumers are
behind, or none runs), a close is dropped at once with one warning a minute, not
retried for the flow's whole wait (30 s per socket, each holding the drain) and warned
per socket (found by tests/fuzz/test_websocket_fuzz.py)."""

from __future__ import annotations

CONFIG = "[layer]\ncapacity = 2\n"


async def test_closes_nobody_consumes_are_dropped_at_once_with_one_warning(serve_ws, tmp_path):
    config = tmp_path / "gateways.toml"
    config.write_text(CONFIG)
    # Workers for the other channels only: the disconnect channel fills.
    flags = ("--config", str(config), "--grace", "60", "--exclude-channels", "websocket.disconnect")
    served = serve_ws(*flags)
    for _ in range(6):
        async with served.connect("/echo") as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
    served.process.wait_for(r"close of .* goes unreported", timeout=10)
    mark = len(served.process.lines)
    assert served.process.stop(timeout=10) == 0  # no flow left waiting for room
    unreported = [line for line in served.process.lines if "goes unreported" in line]
    assert len(unreported) == 1, "\n".join(unreported)
    assert "unfinished" not in "\n".join(served.process.lines[mark:])
