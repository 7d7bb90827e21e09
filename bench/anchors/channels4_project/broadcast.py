"""Send one broadcast to the "bench" group from outside the server process.

    REDIS_URL=redis://127.0.0.1:6379/0 ../../.venvs/daphne4/bin/python broadcast.py TEXT [COUNT]

Uses the same channel-layer settings as the server (channels_redis group_send).
"""

import asyncio
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_c4.settings")

import django

django.setup()

from bench_c4.consumers import GROUP  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402


async def main(text: str, count: int) -> None:
    layer = get_channel_layer()
    for _ in range(count):
        await layer.group_send(GROUP, {"type": "bench.message", "text": text})
    close = getattr(layer, "close_pools", None)  # core layer; the pubsub layer has none
    if close is not None:
        await close()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1))
