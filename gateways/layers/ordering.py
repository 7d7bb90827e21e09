"""Message groups: the messages of one ``reply_channel`` run one at a time, in order,
across any number of workers (as SQS FIFO message groups or Service Bus sessions do).

The interface that owns a connection numbers its messages (``__seq__``: 0, 1, 2 ...).
A worker asks the layer before it runs message *n* (:meth:`OrderBook.begin`): if *n - 1*
has ended, it runs; otherwise the layer **parks** it. The worker that ends *n - 1*
(:meth:`OrderBook.end`) gets the parked *n* back and runs it next, so a group moves from
worker to worker without any of them waiting. A parked message whose predecessor never
ends (its worker was killed) is handed out by :meth:`OrderBook.release` once
``order_timeout`` has passed, and the group goes on without the lost message. Every
message parked then was sent after the lost ones, so on a first-in first-out channel
any number below it that is still missing was taken by the dead worker too: the group
skips those at once instead of waiting ``order_timeout`` for each.

A connection's last message (its disconnect) carries ``__last__``: the worker that ends
it says so (``order_end(..., last=True)``) and the record is forgotten then, instead of
lingering for ``group_expiry`` (a day) after every short-lived connection.

The same records drive backpressure: an interface that has sent *k* messages of a
connection asks to be woken when *k - window* have ended (:meth:`OrderBook.wait`);
the worker whose ``end`` reaches that number is told to send the wake-up.

:class:`OrderBook` keeps these records in one process (the memory layer, and any layer
whose processes share nothing else); the Redis layer keeps the same records in Redis
with the same rules, in Lua scripts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["LAST_KEY", "PROGRESS_KEY", "SEQ_KEY", "OrderBook"]

#: The content key holding a message's number within its group.
SEQ_KEY = "__seq__"
#: The content key of a wake-up sent to an interface: how many messages of the group ended.
PROGRESS_KEY = "__progress__"
#: The content key marking a group's last message: nothing follows it.
LAST_KEY = "__last__"

Parked = tuple[str, bytes]  # channel, serialized message


@dataclass
class _Group:
    done: int = -1
    parked: dict[int, Parked] = field(default_factory=dict)
    due: float = 0.0  # when the oldest parked message is released anyway
    wake: int | None = None
    touched: float = 0.0
    #: After a release: numbers below this that never came were lost with their worker.
    lost_below: int = -1


class OrderBook:
    """The records of every group of one process; times are ``time.monotonic()``."""

    def __init__(self, timeout: float, expiry: float) -> None:
        self.timeout = timeout
        self.expiry = expiry
        self._groups: dict[str, _Group] = {}
        self._purged = time.monotonic()

    def _get(self, group: str, now: float) -> _Group:
        found = self._groups.get(group)
        if found is None:
            self._purge(now)
            found = self._groups[group] = _Group()
        found.touched = now
        return found

    def begin(self, group: str, seq: int, channel: str, data: bytes) -> bool:
        """True: run message ``seq`` now. False: parked until ``seq - 1`` ends."""
        now = time.monotonic()
        state = self._get(group, now)
        if state.done >= seq - 1:
            return True
        if not state.parked:
            state.due = now + self.timeout
        state.parked[seq] = (channel, data)
        return False

    def end(self, group: str, seq: int, last: bool = False) -> tuple[Parked | None, bool]:
        """Record that ``seq`` ended: the parked successor to run next (if any), and
        whether the group's interface asked to be woken at this point. ``last``: nothing
        follows ``seq``; the group is forgotten unless something is parked."""
        now = time.monotonic()
        state = self._get(group, now)
        state.done = max(state.done, seq)
        wake = state.wake is not None and state.done >= state.wake
        if wake:
            state.wake = None
        following = state.parked.pop(state.done + 1, None)
        if following is None and state.done < state.lost_below and state.parked:
            # Recovering: what is missing below ``lost_below`` went with a dead worker.
            seq = min(state.parked)
            if seq <= state.lost_below:
                state.done = seq - 1
                following = state.parked.pop(seq)
        if following is not None and state.parked:
            state.due = now + self.timeout
        if last and following is None and not state.parked:
            del self._groups[group]
        return following, wake

    def release(self) -> list[tuple[str, Parked]]:
        """Parked messages whose predecessor is overdue: the group skips what was lost."""
        now = time.monotonic()
        released = []
        for group, state in self._groups.items():
            if state.parked and state.due <= now:
                seq = min(state.parked)
                state.done = seq - 1
                state.lost_below = max(state.parked)
                released.append((group, state.parked.pop(seq)))
                state.due = now + self.timeout
        return released

    def wait(self, group: str, seq: int) -> bool:
        """True if message ``seq`` (and so every one before it) ended already; otherwise
        the worker that ends it is told to wake the interface."""
        state = self._get(group, time.monotonic())
        if state.done >= seq:
            return True
        state.wake = seq if state.wake is None else min(state.wake, seq)
        return False

    def _purge(self, now: float) -> None:
        """Forget groups untouched for ``expiry`` (checked at most once per expiry)."""
        if now - self._purged < self.expiry:
            return
        self._purged = now
        stale = [g for g, s in self._groups.items() if now - s.touched > self.expiry]
        for group in stale:
            del self._groups[group]
