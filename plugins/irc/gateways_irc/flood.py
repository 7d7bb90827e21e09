"""Outgoing flood control: a token bucket, as IRC servers expect from bots.

``burst`` lines may leave at once; after that one line per ``1 / rate`` seconds. A
server that sees a client flood disconnects it ("Excess Flood"), so the bot paces
itself instead. ``rate == 0`` turns pacing off (for private servers and benchmarks).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate < 0 or burst < 1:
            raise ValueError(f"need rate >= 0 and burst >= 1, got {rate!r} and {burst!r}")
        self.rate = float(rate)
        self.burst = int(burst)
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_time(self) -> float:
        """Seconds until a token is available (0 when one is there now)."""
        if self.rate == 0:
            return 0.0
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def try_take(self) -> bool:
        if self.wait_time() > 0:
            return False
        if self.rate:
            self.tokens -= 1
        return True

    async def take(self) -> None:
        """Wait for a token and spend it (pacing is the point here: the sleep is the wait)."""
        while not self.try_take():  # noqa: ASYNC110 - time itself is what is waited for
            await asyncio.sleep(self.wait_time())
