"""SIGHUP, as docs/cli.md describes it.

- ``gateways serve`` with embedded workers: a graceful restart of those workers. The app
  is imported again (the modules of its top-level package are dropped first, so edited
  code is read anew), fresh workers start receiving, and the old ones finish their
  messages in flight within ``--grace``. Client connections stay open. If the app no
  longer imports, the error is logged and the running workers go on.
- ``gateways serve`` without embedded workers: nothing runs app code there, so there is
  nothing to restart; logged and ignored.
- ``gateways worker``: a graceful stop, exit 0, as SIGTERM (the supervisor that runs it
  starts a fresh one, which imports the new code).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from gateways.routing import Routing, load_routing

if TYPE_CHECKING:
    from gateways.config import Settings
    from gateways.worker import Worker

log = logging.getLogger("gateways")


class Restartable(Protocol):
    """What a SIGHUP restarts in ``serve`` (:class:`gateways.host.InterfaceHost`)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def workers(self) -> list[Worker]: ...

    def restart_workers(self, routing: Routing) -> list[Worker]: ...


def on_hangup(loop: asyncio.AbstractEventLoop, action: Callable[[], None]) -> None:
    """Run ``action`` on SIGHUP (instead of the default: die at once, logging nothing)."""
    loop.add_signal_handler(signal.SIGHUP, action)


def reimport(spec: str) -> Routing:
    """Load ``module:attribute`` from source again: the modules of its top-level package
    leave ``sys.modules`` first (gateways itself and its plugins stay)."""
    top = spec.partition(":")[0].split(".")[0]
    if not top.startswith("gateways"):
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]
    importlib.invalidate_caches()
    return load_routing(spec)


def restart_serve_workers(host: Restartable, spec: str | None) -> None:
    """SIGHUP in ``serve``: fresh embedded workers on the re-imported app."""
    if not host.workers or spec is None:
        log.info("received SIGHUP: no embedded workers to restart here; ignored")
        return
    log.info("received SIGHUP: restarting the embedded workers (re-importing %s)", spec)
    from gateways.runner import check_channels  # runner imports this module

    try:
        routing = reimport(spec)
        check_channels(host.settings, routing)  # the new routes may consume other channels
    except Exception as exc:
        log.error("restart abandoned, the running workers go on: APP %s: %s", spec, exc)
        return
    fresh = host.restart_workers(routing)
    if not fresh:
        log.info("restart: the workers are starting or stopping; nothing restarted")
        return
    names = ", ".join(w.name for w in fresh)
    log.info("restart: %s started; the old workers finish their messages", names)


def stop_worker(stop: Callable[[], None]) -> Callable[[], None]:
    """SIGHUP in ``worker``: a graceful stop, for the supervisor to start a fresh one."""

    def hangup() -> None:
        log.info("received SIGHUP: stopping gracefully (the supervisor starts a fresh worker)")
        stop()

    return hangup
