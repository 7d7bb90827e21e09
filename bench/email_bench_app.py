"""Routes for the email benchmark: a consumer that counts mail and reports every
``BENCH_EMAIL_EVERY`` messages (the benchmark waits for that log line)."""

from __future__ import annotations

import logging
import os
from typing import Any

from gateways import route

log = logging.getLogger("email_bench")
EVERY = int(os.environ.get("BENCH_EMAIL_EVERY", "1000"))
seen = 0


async def count(message: Any) -> None:
    global seen
    seen += 1
    if seen % EVERY == 0:
        log.info("consumed %d", seen)


routes = [route("email.receive", count)]
