"""A reply channel nobody waits on any more leaves the groups whose messages still reach
it (gateways.dead_members): once per group, however many of their messages arrive, while
live members get every message as it was sent. On the real memory and Redis layers."""

from __future__ import annotations

import logging
from typing import Any

from gateways.layers.base import GROUP_KEY, GroupMessage
from tests.core.test_interface import Echo, host, wait_until

__all__ = ["host"]  # the fixture, shared with test_interface.py


def _lines(caplog: Any, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def test_a_dead_reply_channel_leaves_each_group_once(host, caplog):
    caplog.set_level(logging.DEBUG, "gateways.echo")
    layer = host.layer
    echo = Echo(host)
    await echo.start()
    got: list[dict[str, Any]] = []
    live, dead = echo.reply_channel(got.append), echo.reply_channel(got.append)
    echo.forget(dead)  # its connection closed; its disconnect consumer never ran
    for group in ("one", "two"):
        await layer.group_add(group, dead)
        await layer.group_add(group, live)
    for n in range(3):
        await layer.group_send("one", {"n": n})
    await layer.group_send("two", {"n": 3})
    await wait_until(lambda: len(got) == 4)
    assert got == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]  # as sent: no mark
    assert all(type(m) is GroupMessage and GROUP_KEY not in m for m in got)
    assert [m.group for m in got] == ["one", "one", "one", "two"]  # type: ignore[attr-defined]
    await wait_until(lambda: len(_lines(caplog, "left group")) == 2)
    assert sorted(_lines(caplog, "left group")) == [
        f"echo: {dead} left group one (nobody waits on it)",
        f"echo: {dead} left group two (nobody waits on it)",
    ]

    reached = len(_lines(caplog, dead))
    await layer.group_send("one", {"n": 4})
    await layer.group_send("two", {"n": 5})
    await layer.send(live, {"n": "end"})  # the inbox is in order: all before it was handled
    await wait_until(lambda: got[-1] == {"n": "end"})
    assert got[4:] == [{"n": 4}, {"n": 5}, {"n": "end"}]
    assert len(_lines(caplog, dead)) == reached  # nothing reached the dead channel
    await echo.drain(0)
