"""The process's event loop, and Twisted's asyncio reactor on it, so Twisted and asyncio
share one loop.

``--loop`` picks the loop: ``uvloop`` (libuv, written in Cython: the loop's own work, from
scheduling callbacks to polling sockets, costs a fraction of asyncio's), ``asyncio`` (the
standard library's), or ``auto``, the default: uvloop when it is installed, as uvicorn
does. Twisted, aiosmtpd, ``irc.client_aio`` and ``redis.asyncio`` all run on either.

Only ``gateways serve`` installs the reactor, and before anything imports
``twisted.internet.reactor`` (which would install the default reactor for good).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from gateways.config import ConfigError

LOOPS = ("auto", "asyncio", "uvloop")


def event_loop(text: str) -> str:
    """Convert ``--loop``: one of :data:`LOOPS`."""
    choice = text.strip().lower()
    if choice not in LOOPS:
        raise ValueError(f"expected one of {', '.join(LOOPS)}, got {text!r}")
    return choice


def loop_factory(choice: str = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new event loop of ``choice`` (``auto``: uvloop if installed)."""
    if choice == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigError(
                "--loop uvloop: uvloop is not installed (pip install uvloop), "
                "or choose --loop asyncio"
            ) from None
        return asyncio.new_event_loop
    new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return new_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: which kind of loop ``loop`` is."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def install_asyncio_reactor(choice: str = "auto") -> asyncio.AbstractEventLoop:
    """Create the process's event loop (``choice``, see :data:`LOOPS`) and run Twisted's
    reactor on it; idempotent (a later call returns the loop installed first)."""
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import reactor

        loop: asyncio.AbstractEventLoop | None = getattr(reactor, "_asyncioEventloop", None)
        if loop is None:
            raise RuntimeError(
                f"Twisted's reactor was imported before gateways could install the asyncio "
                f"reactor (found {type(reactor).__name__}); a plugin must not import "
                "twisted.internet.reactor at module level"
            )
        asyncio.set_event_loop(loop)
        return loop
    made = loop_factory(choice)()
    asyncio.set_event_loop(made)
    from twisted.internet.main import installReactor

    install: Any = installReactor  # untyped
    install(_reactor_class()(made))
    return made


def _reactor_class() -> Any:
    """Twisted's asyncio reactor, its readers called straight from the loop.

    Twisted wraps every read event in ``callWithLogger``, which builds a log context
    (a dict copied per call, five Python frames) for old-style ``twisted.python.log``
    messages that gateways does not log through, and catches what ``_readOrWrite``
    already catches (an ``Exception`` from ``doRead`` is logged and ends the
    connection). On a server that reads one small request per event, that wrapper is
    a measurable share of each request. Writers keep Twisted's wrapper (rare: a write
    goes to the socket at once unless its buffer is full).
    """
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    class Reactor(AsyncioSelectorReactor):
        def addReader(self, reader: Any) -> None:
            known = reader in self._readers
            base: Any = super()  # untyped
            base.addReader(reader)
            fd = self._readers.get(reader)
            if not known and fd is not None:  # newly registered with the loop (not polled)
                self._asyncioEventloop.add_reader(fd, self._readOrWrite, reader, True)

    return Reactor
