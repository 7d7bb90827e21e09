"""The ceiling for the email benchmark: a bare aiosmtpd server whose handler does nothing.

Served exactly as the email plugin serves it (``loop.create_server`` with aiosmtpd's
``SMTP`` protocol, aiosmtpd's own logging quieted), so the difference is what gateways
adds: parsing the mail into ``email.receive``, the channel layer and a consumer.

    python bench/email_bare.py [PORT]      # prints "listening on smtp://127.0.0.1:PORT"
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from aiosmtpd.smtp import SMTP


class NothingHandler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def main(port: int) -> None:
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    handler = NothingHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="bare.test", enable_SMTPUTF8=True), "127.0.0.1", port
    )
    print(f"listening on smtp://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
