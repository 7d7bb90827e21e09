"""The cyclic garbage collector's settings for a long-running server process.

A full collection walks every object the collector tracks: in ``gateways serve`` that is
all of Twisted, the plugins and the app, some 60,000 objects, and under load it came
every few seconds and stopped the event loop for 30 to 70 ms each time (every request
in flight waited). What start-up built lives as long as the process, so once started,
the process freezes it out of the collector's sight (:func:`gc.freeze`, as pre-fork
servers do). And the youngest generation is collected after :data:`YOUNG_THRESHOLD` net
new objects rather than CPython's 700: a request frees what it allocates by reference
counting, so those frequent collections found almost nothing.

Only the ``serve`` and ``worker`` processes do this (:mod:`gateways.runner`); importing
gateways as a library changes nothing.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("gateways")

#: Net new container objects between two collections of the youngest generation.
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Collect once, freeze what is left, and collect the young generation less often:
    call it when start-up is over (modules, plugins and routes loaded)."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
    log.debug("heap: %d start-up objects frozen out of the collector's way", gc.get_freeze_count())
