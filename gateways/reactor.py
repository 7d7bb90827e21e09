"""Installing Twisted's asyncio reactor, so Twisted and asyncio share one loop.

Only ``gateways serve`` calls this, and before anything imports
``twisted.internet.reactor`` (which would install the default reactor for good).
"""

from __future__ import annotations

import asyncio
import sys


def install_asyncio_reactor() -> asyncio.AbstractEventLoop:
    """Create the process's event loop and run Twisted's reactor on it; idempotent."""
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import reactor

        loop = getattr(reactor, "_asyncioEventloop", None)
        if loop is None:
            raise RuntimeError(
                f"Twisted's reactor was imported before gateways could install the asyncio "
                f"reactor (found {type(reactor).__name__}); a plugin must not import "
                "twisted.internet.reactor at module level"
            )
        asyncio.set_event_loop(loop)
        return loop
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    from twisted.internet import asyncioreactor

    asyncioreactor.install(loop)
    return loop
