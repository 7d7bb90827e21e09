"""A receive's look without blocking, begun at once: while messages flow, each receive
of a worker or a client is one ``LPOP`` (``LMPOP`` over several lists) on the shared
connection, settled as its reply is read: no coroutine but the receive itself.

A :class:`Taker` is kept with its receive plan (routes.py): the packed commands, who
gives back what a cancelled caller took, and the reading of the reply are worked out
once per plan and server.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateways.layers.redis.routes import Place
    from gateways.layers.redis.shard import Shard

#: What a look settles with besides ``(channel, entry, list key)`` or None (nothing
#: there): look again (an expired entry was skipped), or go the long way (an error,
#: which the coroutines meet again and report).
AGAIN: Any = object()
LONG_WAY: Any = object()


class Taker:
    """``LPOP`` or ``LMPOP`` of a place's plain channels on one server."""

    __slots__ = ("_channel", "_channel_of", "_key", "_orphans", "_packed", "pinned", "shard")

    def __init__(
        self, shard: Shard, place: Place, channel_of: Callable[[str], str], pinned: bool
    ) -> None:
        self.shard = shard
        #: ``shard`` holds these lists for good (see Topology.pinned).
        self.pinned = pinned
        self._packed = [packed for _, packed in place.takes]
        self._orphans = [shard.orphan_of(command) for command, _ in place.takes]
        # An LPOP's one channel and list; None: LMPOP, whose reply names its list.
        single = len(place.takes) == 1
        self._channel = place.channels[0] if single else None
        self._key = place.waits[0] if single else None
        self._channel_of = channel_of

    def take(self) -> asyncio.Future[Any] | None:
        """The future of ``(channel, entry, list key)``, None if nothing was ready, or
        AGAIN or LONG_WAY; None: the connection is not open (go the long way)."""
        if self._key is not None:
            i = 0
        elif self.shard.lmpop:
            i = random.randrange(len(self._packed))
        else:  # Redis < 7
            return None
        return self.shard.call_soon(self._packed[i], self._settle, orphan=self._orphans[i])

    def give_back(self, taking: asyncio.Future[Any]) -> None:
        """Its caller was cancelled just as the entry came: back to the head of its list
        (one that comes later finds the future cancelled: resp.py hands it over)."""
        if taking.done() and not taking.cancelled() and type(taken := taking.result()) is tuple:
            self.shard.orphaned((taken[2], taken[1]))

    def _settle(self, taking: asyncio.Future[Any], reply: Any) -> None:
        if reply is None:
            taking.set_result(None)
        elif isinstance(reply, BaseException):
            taking.set_result(LONG_WAY)
        else:
            channel: str | None
            if self._key is None:  # LMPOP: [key, [entry]]
                key = reply[0].decode()
                channel, entry = self._channel_of(key), reply[1][0]
            else:
                key, channel, entry = self._key, self._channel, reply
            taking.set_result(AGAIN if self.shard.expired(entry) else (channel, entry, key))
