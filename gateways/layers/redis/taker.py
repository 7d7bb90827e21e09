"""A receive's look without blocking, begun at once: while messages flow, each receive
of a worker or a client is one ``LPOP`` (``LMPOP`` over several lists) on the shared
connection, settled as its reply is read, with no coroutine of the layer's own.

A :class:`Taker` is kept with its receive plan (routes.py): the packed commands, who
gives back what a cancelled caller took, and the reading of the reply are worked out
once per plan and server.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateways.layers.redis import entries

if TYPE_CHECKING:
    from gateways.layers.redis.routes import Place
    from gateways.layers.redis.shard import Shard

#: What a look may settle with besides a message: look again (an expired entry was
#: skipped) or go the long way (an error, which the coroutines meet again and report).
AGAIN: Any = object()
LONG_WAY: Any = object()

Deserialize = Callable[[bytes], Any]


class Taker:
    """``LPOP`` or ``LMPOP`` of a place's plain channels on one server."""

    __slots__ = (
        "_channel",
        "_channel_of",
        "_deserialize",
        "_orphans",
        "_packed",
        "pinned",
        "shard",
    )

    def __init__(
        self,
        shard: Shard,
        place: Place,
        channel_of: Callable[[str], str],
        deserialize: Deserialize,
        pinned: bool,
    ) -> None:
        self.shard = shard
        #: ``shard`` holds these lists for good (see Topology.pinned).
        self.pinned = pinned
        self._packed = [packed for _, packed in place.takes]
        self._orphans = [shard.orphan_of(command) for command, _ in place.takes]
        #: An ``LPOP``'s one channel; None: ``LMPOP``, whose reply names its list.
        self._channel = place.channels[0] if len(place.takes) == 1 else None
        self._channel_of = channel_of
        self._deserialize = deserialize

    def take(self) -> asyncio.Future[Any] | None:
        """The future of the message (decoded), None if nothing was ready, or AGAIN or
        LONG_WAY; None: the connection is not open (go the long way)."""
        if self._channel is not None:
            i = 0
        elif self.shard.lmpop:
            i = random.randrange(len(self._packed))
        else:  # Redis < 7
            return None
        return self.shard.call_soon(self._packed[i], self._settle, orphan=self._orphans[i])

    def _settle(self, taking: asyncio.Future[Any], reply: Any) -> None:
        if reply is None:
            taking.set_result(None)
            return
        if isinstance(reply, BaseException):
            taking.set_result(LONG_WAY)
            return
        if self._channel is None:  # LMPOP: [key, [entry]]
            raw, channel = reply[1][0], self._channel_of(reply[0].decode())
        else:
            raw, channel = reply, self._channel
        if self.shard.expired(raw):
            taking.set_result(AGAIN)
            return
        try:
            channel, data = entries.parse_plain(raw, channel)
            taking.set_result((channel, self._deserialize(data)))
        except ValueError as exc:  # not a message of ours (another key, a wrong key)
            taking.set_exception(exc)
