"""Is the layer there, and is anyone working? The checks behind readiness and the lines
an operator reads when the answer is no.

- :func:`ping`: one cheap round trip to the layer (raises when it does not answer);
- :func:`wait_for_layer`: a process says "ready" only once the layer answered, and says
  that it waits when it does not;
- :class:`NoWorkerNotice`: an interface whose requests time out while no worker receives
  their channel says so once, rather than leaving a bare 503 per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateways.layers.base import BaseChannelLayer

log = logging.getLogger("gateways")

#: Seconds a single check waits for the layer before it counts as unreachable.
CHECK_TIMEOUT = 3.0
#: Longest pause between two looks at a layer that does not answer.
MAX_PAUSE = 5.0
#: Seconds a look at the live workers is reused before the layer is asked again.
WORKERS_CACHE_SECONDS = 5.0
#: What every failure to reach a layer raises.
UNREACHABLE = (ConnectionError, OSError, TimeoutError)


async def ping(layer: BaseChannelLayer, channel: str = "gateways.ping") -> None:
    """One round trip: the figures of one channel (a layer that cannot count its
    channels is asked for its live workers instead)."""
    try:
        await asyncio.wait_for(layer.channel_figures([channel]), CHECK_TIMEOUT)
    except NotImplementedError:
        await asyncio.wait_for(layer.alive("worker"), CHECK_TIMEOUT)


async def wait_for_layer(layer: BaseChannelLayer, name: str, stopping: asyncio.Event) -> bool:
    """Return True once the layer answers; False if ``stopping`` is set first. While it
    does not answer, say so once and keep looking (growing pauses up to MAX_PAUSE)."""
    pause, said = 0.1, False
    while not stopping.is_set():
        try:
            await ping(layer)
        except UNREACHABLE as exc:
            if not said:
                log.warning("%s: waiting for the layer (%s)", name, exc or type(exc).__name__)
                said = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), pause)
            pause = min(MAX_PAUSE, pause * 2)
            continue
        if said:
            log.info("%s: the layer answers", name)
        return True
    return False


class NoWorkerNotice:
    """Logs "no worker is receiving CHANNEL" once when requests time out and no live
    worker (heartbeats on the layer) receives ``channel``; again only after one did.

    :meth:`timed_out` is called per timed-out request and costs nothing while a recent
    answer (WORKERS_CACHE_SECONDS) is known.
    """

    def __init__(
        self,
        layer: BaseChannelLayer,
        channel: str,
        spawn: Callable[[Coroutine[Any, Any, None]], Any],
        logger: logging.Logger,
    ) -> None:
        self.layer = layer
        self.channel = channel
        self.spawn = spawn
        self.log = logger
        self.said = False
        self._checked_at = float("-inf")
        self._checking = False

    def timed_out(self) -> None:
        """A request on ``channel`` got no answer in time."""
        now = asyncio.get_running_loop().time()
        if self._checking or now - self._checked_at < WORKERS_CACHE_SECONDS:
            return
        self._checking = True
        self.spawn(self._check())

    async def _check(self) -> None:
        try:
            workers = await asyncio.wait_for(self.layer.alive("worker"), CHECK_TIMEOUT)
        except UNREACHABLE:
            return  # the receive loops already say the layer is unreachable
        finally:
            self._checking = False
            self._checked_at = asyncio.get_running_loop().time()
        receiving = any(self.channel in (w.get("channels") or ()) for w in workers)
        if not receiving and not self.said:
            self.log.warning(
                "no worker is receiving %s: its requests time out until one runs "
                "(gateways worker APP --layer URL)",
                self.channel,
            )
        self.said = not receiving
