"""Reply channels that died while still in a group leave it lazily, off the reply loop.

A consumer takes a socket's reply channel out of its groups when the socket's
``websocket.disconnect`` runs. That message is a notice: a close that finds its channel
full is dropped, so a burst of closes can leave dead channels in their groups until
``group_expiry`` (a day), and every ``group_send`` keeps paying for them. The interface
that owned such a channel sees it die: a group's message (a
:class:`~gateways.layers.base.GroupMessage`) arrives for a reply channel nobody waits on,
and that name is dead for good (a new connection gets a new one). So the channel is
taken out of that group then, once, by one supervised task at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from gateways.layers.base import BaseChannelLayer, GroupMessage
from gateways.logguard import Throttled

#: Discards awaited at once (the Redis layer pipelines them on one connection).
BATCH = 100
#: Memberships remembered as discarded: the group's messages already queued for a
#: channel when it left arrive after, and must not discard it again.
REMEMBERED = 10_000

Spawn = Callable[[Coroutine[Any, Any, None], str], Any]


class DeadMembers:
    """Takes each dead reply channel out of the groups whose messages still reach it."""

    def __init__(self, layer: BaseChannelLayer, spawn: Spawn, log: logging.Logger, name: str):
        self._layer = layer
        self._spawn = spawn
        self._log = log
        self._warn = Throttled(log)
        self._name = name
        self._pending: dict[tuple[str, str], None] = {}  # ordered: discarded in turn
        self._done: dict[tuple[str, str], None] = {}
        self._running = False

    def dropped(self, channel: str, message: dict[str, Any]) -> None:
        """A reply for ``channel``, which nobody waits on, is dropped: if a group sent
        it, ``channel`` leaves that group (once)."""
        self._log.debug("%s: reply on %s dropped (nobody waits)", self._name, channel)
        if type(message) is not GroupMessage:
            return
        member = (message.group, channel)
        if member in self._pending or member in self._done:
            return
        self._pending[member] = None
        if not self._running:
            self._running = True
            self._spawn(self._discard_all(), f"{self._name} dead group members")

    async def _discard_all(self) -> None:
        try:
            while self._pending:
                batch = list(itertools.islice(self._pending, BATCH))
                await asyncio.gather(*(self._discard(*member) for member in batch))
        finally:
            self._running = False

    async def _discard(self, group: str, channel: str) -> None:
        try:
            await self._layer.group_discard(group, channel)
        except Exception as exc:
            self._warn.warning(
                "discard", "%s: %s stays in group %s: %s", self._name, channel, group, exc
            )
        else:
            self._log.debug("%s: %s left group %s (nobody waits on it)", self._name, channel, group)
            self._done[(group, channel)] = None
            if len(self._done) > REMEMBERED:
                del self._done[next(iter(self._done))]
        finally:
            del self._pending[(group, channel)]
