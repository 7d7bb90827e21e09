"""Process entry points behind ``gateways serve`` and ``gateways worker``."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from gateways import heap
from gateways.config import ConfigError, Settings
from gateways.interface import StartFailed
from gateways.layers import get_layer
from gateways.layers.base import BaseChannelLayer
from gateways.monitor import of_worker
from gateways.plugins import PluginHost
from gateways.reactor import loop_factory, loop_name
from gateways.restart import on_hangup, restart_serve_workers, stop_worker
from gateways.routing import Routing
from gateways.worker import Worker, select_channels

log = logging.getLogger("gateways")


def on_stop_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    """SIGTERM and SIGINT begin a graceful stop; a second one is logged and ignored."""

    def handler(signame: str) -> None:
        log.info("received %s", signame)
        stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, handler, sig.name)


def build_layer(settings: Settings, plugins: PluginHost) -> BaseChannelLayer:
    """The layer named by ``layer``, with the ``[layer]`` table's settings (its ``url``
    key being the URL itself)."""
    table = settings.file.get("layer")
    options: dict[str, Any] = dict(table) if isinstance(table, dict) else {}
    options.pop("url", None)
    try:
        return get_layer(settings["layer"], plugins, **options)
    except (ValueError, TypeError) as exc:
        raise settings.error("layer", f"{settings['layer']}: {exc}") from None


def check_channels(settings: Settings, routing: Routing) -> None:
    """``--only-channels``/``--exclude-channels`` that leave a worker nothing to receive
    are a usage error, found before anything starts."""
    only, exclude = settings["only_channels"], settings["exclude_channels"]
    if select_channels(routing.channels, only, exclude):
        return
    if not routing.channels:
        raise ConfigError("the APP's routes consume no channel: a worker would receive nothing")
    given = [f"--only-channels {g!r}" for g in only]
    given += [f"--exclude-channels {g!r}" for g in exclude]
    raise ConfigError(
        f"no channel left to receive on after {' '.join(given)} (the routes consume "
        f"{', '.join(sorted(routing.channels))})"
    )


def embedded_workers(settings: Settings, layer: BaseChannelLayer, has_app: bool) -> int:
    """Workers ``serve`` runs itself: by default one on a process-local layer, else none."""
    workers = settings.get("workers")
    if workers is None:
        workers = 1 if layer.process_local else 0
    if workers < 0:
        raise ConfigError(f"--workers: must be 0 or more, got {workers}")
    if layer.process_local and workers == 0:
        raise ConfigError(
            f"--workers 0 with {settings['layer']}: no other process could ever handle its messages"
        )
    if workers and not has_app:
        raise ConfigError("serve runs workers here, so it needs an APP (module:attribute)")
    return workers


def serve(
    settings: Settings, plugins: PluginHost, routing: Routing | None, spec: str | None = None
) -> int:
    """Run interfaces (and embedded workers) on Twisted's asyncio reactor until stopped;
    SIGHUP restarts the embedded workers on ``spec`` re-imported (gateways/restart.py)."""
    from gateways.reactor import install_asyncio_reactor

    loop = install_asyncio_reactor(settings["loop"])
    from twisted.internet import reactor as installed

    reactor: Any = installed
    from twisted.internet.defer import Deferred
    from twisted.internet.error import CannotListenError

    from gateways.host import InterfaceHost
    from gateways.interface import StartFailed

    layer = build_layer(settings, plugins)
    workers = embedded_workers(settings, layer, routing is not None)
    if workers and routing is not None:
        check_channels(settings, routing)
    host = InterfaceHost(settings, plugins, layer, routing, settings["plugin"], workers)
    outcome: list[int] = []

    def failed(failure: Any) -> None:
        if failure.check(ConfigError, StartFailed, CannotListenError, OSError):
            log.error("serve failed: %s", failure.getErrorMessage())
        else:
            log.error("serve failed:\n%s", failure.getTraceback())
        outcome.append(1)

    def start() -> None:
        log.info("event loop: %s", loop_name(loop))
        on_stop_signals(loop, host.stop)
        on_hangup(loop, lambda: restart_serve_workers(host, spec))
        heap.settle()
        done = Deferred.fromFuture(asyncio.ensure_future(host.run()))
        done.addErrback(failed)
        done.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    return outcome[0] if outcome else 0


def work(settings: Settings, plugins: PluginHost, routing: Routing) -> int:
    """Run one worker process (no reactor, no listeners) until SIGTERM."""
    check_channels(settings, routing)
    layer = build_layer(settings, plugins)
    if layer.process_local:
        raise ConfigError(
            f"gateways worker cannot use {settings['layer']}: that layer lives inside one "
            "process, so a separate worker would never see its messages. Use "
            "`gateways serve` (which runs workers in-process) or a shared layer such as "
            "--layer redis://localhost:6379/0"
        )
    worker = Worker(
        layer,
        routing,
        plugins,
        only_channels=settings["only_channels"],
        exclude_channels=settings["exclude_channels"],
        concurrency=settings["concurrency"],
    )

    async def main() -> None:
        on_stop_signals(asyncio.get_running_loop(), worker.stop)
        on_hangup(asyncio.get_running_loop(), stop_worker(worker.stop))
        monitor = of_worker(settings, worker)  # --metrics-port: /metrics, /ready, /live
        try:
            await monitor.start()
            log.info("event loop: %s", loop_name(asyncio.get_running_loop()))
            heap.settle()
            await worker.run(settings["grace"])
        finally:
            await monitor.close()
            await layer.close()

    try:
        with asyncio.Runner(loop_factory=loop_factory(settings["loop"])) as loop:
            loop.run(main())
    except StartFailed as exc:
        log.error("worker failed: %s", exc)
        return 1
    return 0


def status(settings: Settings, plugins: PluginHost, as_json: bool, watch: bool) -> int:
    """Print what the layer says; 1 when it shows a problem (a health check), else 0."""
    from gateways.status import collect, render

    if settings["web"] is not None and (as_json or watch):
        raise ConfigError("--web shows the figures in a browser: leave out --json and --watch")
    layer = build_layer(settings, plugins)
    if layer.process_local:
        raise ConfigError(
            f"gateways status cannot read {settings['layer']}: that layer lives inside the "
            "`gateways serve` process; give the shared layer (--layer redis://...), or read "
            "serve's own figures with --metrics-port"
        )
    if settings["web"] is not None:
        from gateways.status_web import run_page

        return run_page(layer, settings)

    async def look() -> int:
        try:
            while True:
                try:
                    report = await collect(layer, settings["max_age"])
                except (ConnectionError, OSError) as exc:  # unhealthy: one line, exit 1
                    print(f"gateways: layer unreachable: {exc}", file=sys.stderr, flush=True)
                    if not watch:
                        return 1
                else:
                    print(render(report, as_json), flush=True)
                    if not watch:
                        return 1 if report["problems"] else 0
                await asyncio.sleep(2.0)
                print()
        finally:
            await layer.close()

    try:
        return asyncio.run(look())
    except KeyboardInterrupt:
        return 0
