"""Consistent hashing: which shard holds a key.

Each shard takes many points on a ring, placed by hashing its ``host:port/db`` name, so
the order of hosts in the URL does not matter and adding a fourth server moves only
about a quarter of the keys.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence

POINTS_PER_SHARD = 160


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class HashRing:
    def __init__(self, names: Sequence[str], points: int = POINTS_PER_SHARD) -> None:
        ring = sorted(
            (_hash(f"{name}#{i}"), index) for index, name in enumerate(names) for i in range(points)
        )
        self._points = [point for point, _ in ring]
        self._owners = [owner for _, owner in ring]
        self._single = len(names) == 1
        self._cache: dict[str, int] = {}

    def __getitem__(self, key: str) -> int:
        """Index of the shard that holds ``key``."""
        if self._single:
            return 0
        try:
            return self._cache[key]
        except KeyError:
            pass
        at = bisect.bisect(self._points, _hash(key)) % len(self._points)
        owner = self._owners[at]
        if len(self._cache) < 10_000:
            self._cache[key] = owner
        return owner
