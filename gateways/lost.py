"""Noticing that a worker died holding work an interface waits for.

A worker killed mid-message (SIGKILL, the OOM killer, a lost machine) never answers,
and without help its clients would wait out the whole reply timeout (two minutes for
HTTP). Each worker lists, in its heartbeat, the reply channels of the messages it is
running (``holding``). An interface with something to wait for reads the heartbeats
every beat; when a worker's record lapses while it held one of this interface's reply
channels, and that channel is still waiting a beat later (its answer was not merely
late in the queue), the channel's ``lost`` callback runs: the http plugin answers 502.

A worker that stops cleanly finishes its messages before its record goes, so only
work that can no longer be answered is given up on. A worker that dies within its
first beat of taking a message has not listed it yet: that client still waits for
the timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from gateways.heartbeat import EVERY
from gateways.layers.base import BaseChannelLayer

log = logging.getLogger("gateways.lost")

#: Most reply channels one worker record lists (a worker runs ``--concurrency`` at once).
HOLDING_LIMIT = 1000

LostCallback = Callable[[], Any]


def holding(reply_channels: Iterable[str]) -> list[str]:
    """What a worker's heartbeat says it holds: process-specific reply channels."""
    found = [channel for channel in reply_channels if "!" in channel]
    return found[:HOLDING_LIMIT]


class WorkerWatch:
    """Reads worker heartbeats while ``waiting`` has entries; calls back the lost ones."""

    def __init__(
        self, layer: BaseChannelLayer, waiting: dict[str, LostCallback], every: float = EVERY
    ) -> None:
        self.layer = layer
        self.waiting = waiting
        self.every = every
        self._held: dict[str, set[str]] = {}  # worker name -> channels it held last beat
        self._suspects: set[str] = set()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every)  # a cadence, as the heartbeats' own
            if not self.waiting:
                self._held.clear()
                self._suspects.clear()
                continue
            try:
                records = await self.layer.alive("worker")
            except (ConnectionError, OSError) as exc:
                log.debug("cannot read worker heartbeats (%s)", exc)
                continue
            self.check(records)

    def check(self, records: list[dict[str, Any]]) -> None:
        """One look at the live workers: give up on what the vanished ones held."""
        for channel in self._suspects:
            callback = self.waiting.pop(channel, None)
            if callback is not None:
                callback()
        held = {str(r.get("name")): set(r.get("holding") or ()) for r in records}
        gone = [name for name in self._held if name not in held]
        self._suspects = {
            channel for name in gone for channel in self._held[name] if channel in self.waiting
        }
        if self._suspects:
            log.warning(
                "worker %s stopped holding %d request(s) waiting here",
                ", ".join(gone),
                len(self._suspects),
            )
        self._held = held
