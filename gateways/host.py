"""The interface host: runs the chosen interface plugins (and, on a process-local layer,
embedded workers) on one event loop, and drains them all on SIGTERM.

This is the one place where the contract between protocol plugins and the rest is
kept: a plugin gets the host, reads its settings and layer, and returns
:class:`Interface` objects for the host to start and drain.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any, Protocol, runtime_checkable

from gateways.acceptwatch import watching
from gateways.config import Settings
from gateways.health import wait_for_layer
from gateways.heartbeat import beat, identity
from gateways.interface import Interface as _Interface  # gateways.host.Interface: see __getattr__
from gateways.layers.base import BaseChannelLayer
from gateways.monitor import of_host
from gateways.plugins import PluginHost, gather_results
from gateways.pool import WorkerPool
from gateways.routing import Routing
from gateways.twistedlog import forwarding
from gateways.worker import Worker

log = logging.getLogger("gateways.host")


@runtime_checkable
class InterfaceLike(Protocol):
    """What the host needs of an interface. :class:`gateways.interface.Interface` is the
    base class to use; any object with these members still works."""

    @property
    def name(self) -> str:
        """Shown in logs and ``gateways ready: ...``."""

    async def start(self) -> None:
        """Begin listening or connecting; return once ready (errors abort ``serve``)."""

    async def drain(self, grace: float) -> None:
        """Stop accepting; finish or close what is open within ``grace`` seconds."""


class Host(Protocol):
    """What ``gateways_interfaces(host)`` receives: the process an interface runs in."""

    @property
    def settings(self) -> Settings:
        """Every resolved setting (flags, ``GATEWAYS_*``, the ``--config`` file)."""

    @property
    def layer(self) -> BaseChannelLayer:
        """The channel layer this process talks to."""

    @property
    def hook(self) -> Any:
        """Every plugin hook, those plugins add included (``host.hook.gateways_http_upgrade``)."""

    def state(self, plugin: str) -> SimpleNamespace:
        """A namespace for ``plugin``'s own state in this process (never module globals)."""

    def interface(self, name: str) -> InterfaceLike | None:
        """The interface called ``name`` in this process, if it runs here."""

    def logger(self, plugin: str) -> logging.Logger:
        """The logger a plugin logs to (``gateways.<plugin>``)."""


class InterfaceHost:
    def __init__(
        self,
        settings: Settings,
        plugins: PluginHost,
        layer: BaseChannelLayer,
        routing: Routing | None,
        selected: list[str],
        workers: int,
    ) -> None:
        self.settings = settings
        self.plugins = plugins
        self.layer = layer
        self.routing = routing
        self.selected = selected
        self.interfaces: list[InterfaceLike] = []
        self.pool = WorkerPool(self._worker, workers)
        self._stop = asyncio.Event()
        self._states: dict[str, SimpleNamespace] = {}
        self._identity = identity("serve")

    @property
    def hook(self) -> Any:
        """All plugin hooks, including those plugins add (``host.hook.gateways_http_upgrade``)."""
        return self.plugins.hook

    def state(self, plugin: str) -> SimpleNamespace:
        return self._states.setdefault(plugin, SimpleNamespace())

    def interface(self, name: str) -> InterfaceLike | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def logger(self, plugin: str) -> logging.Logger:
        return logging.getLogger(f"gateways.{plugin}")

    def _worker(self, index: int) -> Worker:
        if self.routing is None:
            raise ValueError("embedded workers need an APP (module:attribute) to route to")
        return Worker(
            self.layer,
            self.routing,
            self.plugins,
            only_channels=self.settings["only_channels"],
            exclude_channels=self.settings["exclude_channels"],
            concurrency=self.settings["concurrency"],
            name=f"worker-{index + 1}",
        )

    @property
    def workers(self) -> list[Worker]:
        """The embedded workers running now (a restart replaces them)."""
        return self.pool.workers

    def restart_workers(self, routing: Routing) -> list[Worker]:
        """Fresh embedded workers on ``routing`` (SIGHUP, :mod:`gateways.restart`); those
        they replace finish their messages in flight."""
        self.routing = routing
        return self.pool.restart()

    def stop(self) -> None:
        """Begin a graceful stop (what SIGTERM and SIGINT do)."""
        self._stop.set()

    async def run(self) -> None:
        # Every listener's failed accepts (the fd limit) are logged, whichever plugin's,
        # and so is every error Twisted catches (a protocol that raised).
        with watching(asyncio.get_running_loop()), forwarding():
            await self._run()

    async def _run(self) -> None:
        grace = float(self.settings["grace"])
        for built in self.plugins.only(self.selected, "gateways_interfaces")(host=self):
            self.interfaces.extend(built or ())
        started: list[InterfaceLike] = []
        monitor = of_host(self, self._stop)  # --metrics-port: /metrics, /ready, /live
        try:
            for interface in self.interfaces:
                await interface.start()
                started.append(interface)
            await monitor.start()
        except BaseException:
            await asyncio.gather(*(i.drain(0) for i in started), return_exceptions=True)
            await self.layer.close()
            raise
        worker_tasks = [asyncio.create_task(self.pool.run(grace))] if self.workers else []
        await gather_results(self.hook.gateways_host_started(host=self))
        beating = asyncio.create_task(beat(self.layer, "interface", self.record, self._stop))
        if await wait_for_layer(self.layer, "serve", self._stop):  # "ready" means it
            log.info(
                "gateways ready: %s", ", ".join(i.name for i in self.interfaces) or "no interfaces"
            )
        stopper = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait([stopper, *worker_tasks], return_when=asyncio.FIRST_COMPLETED)
        crashed = [t for t in done if t is not stopper]
        self._stop.set()
        await self._stop_within(grace, worker_tasks)
        await beating
        await monitor.close()
        stopper.cancel()
        await self.layer.close()
        for task in crashed:
            task.result()  # re-raise why a worker ended on its own
        log.info("gateways stopped")

    async def _stop_within(self, grace: float, worker_tasks: list[asyncio.Task[None]]) -> None:
        """One budget for everything: interfaces drain while the embedded workers still
        answer what they wait for; the workers get what is left of the same ``grace``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        log.info("gateways stopping (grace %gs)", grace)
        await gather_results(self.hook.gateways_host_stopping(host=self, grace=grace))
        await asyncio.gather(*(i.drain(max(0.0, deadline - loop.time())) for i in self.interfaces))
        self.pool.stop(grace=max(0.0, deadline - loop.time()))
        await asyncio.gather(*worker_tasks, return_exceptions=True)
        await self.pool.stopped()

    def record(self) -> dict[str, Any]:
        """This process's heartbeat: its interfaces, what they produce, their open work."""
        produced = [
            spec.name
            for name, specs in self.plugins.channels().items()
            if name in self.selected
            for spec in specs
            if spec.role == "produces"
            and not spec.notice
            and not any(c in spec.name for c in "*?[")
        ]
        opened = {i.name: i.outstanding() for i in self.interfaces if isinstance(i, _Interface)}
        return {
            **self._identity,
            "interfaces": [i.name for i in self.interfaces],
            "produces": sorted(set(produced)),
            "open": opened,
            "workers": len(self.workers),
        }


def __getattr__(name: str) -> Any:
    if name == "Interface":  # the 0.1 name of InterfaceLike
        import warnings

        warnings.warn(
            "gateways.host.Interface is now gateways.plugin.Interface, a base class; "
            "the structural type is gateways.host.InterfaceLike",
            DeprecationWarning,
            stacklevel=2,
        )
        return InterfaceLike
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
