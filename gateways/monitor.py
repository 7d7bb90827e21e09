"""The metrics port of a ``serve`` or ``worker`` process (``--metrics-port``):
``/metrics`` for Prometheus, ``/ready`` and ``/live`` for probes (systemd, Kubernetes).

It runs on the process's own event loop (for ``serve``, the loop of Twisted's asyncio
reactor), so a ``/live`` answer proves that loop turns. ``/ready`` is 200 only when the
layer answers and, for interfaces on a shared layer, some worker is alive; otherwise 503
with the reason on one line. Gauges that cost a layer round trip (queue depths) are
refreshed in the background; ``/metrics`` never waits for the layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from gateways import metrics
from gateways.health import CHECK_TIMEOUT, UNREACHABLE, ping
from gateways.interface import StartFailed
from gateways.layers.observing import ChannelFigures

if TYPE_CHECKING:
    from gateways.config import Settings
    from gateways.host import InterfaceHost
    from gateways.layers.base import BaseChannelLayer
    from gateways.worker import Worker

log = logging.getLogger("gateways")

#: Seconds between two refreshes of the queue-depth gauges.
REFRESH_SECONDS = 5.0
#: Longest a probe may take to send its request line and headers.
REQUEST_TIMEOUT = 5.0
_REASONS = {200: b"OK", 404: b"Not Found", 405: b"Method Not Allowed", 503: b"Unavailable"}


class Monitor:
    """``/metrics``, ``/ready``, ``/live`` on ``bind``:``port`` (``port`` None: off)."""

    def __init__(
        self,
        layer: BaseChannelLayer,
        *,
        bind: str,
        port: int | None,
        stopping: asyncio.Event,
        channels: Callable[[], Iterable[str]],
        open_work: Callable[[], Mapping[str, int]] = dict,
        needs_worker: bool = False,
    ) -> None:
        self.layer = layer
        self.bind, self.port = bind, port
        self.stopping = stopping
        self.channels = channels
        self.open_work = open_work
        self.needs_worker = needs_worker
        self.figures: dict[str, ChannelFigures] = {}
        self._server: asyncio.Server | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._unregister: Callable[[], None] | None = None
        if port is not None:
            metrics.ON = True  # count every message and response from the start

    async def start(self) -> None:
        """Listen, log ``metrics on http://HOST:PORT``, begin refreshing the gauges."""
        if self.port is None:
            return
        try:
            self._server = await asyncio.start_server(self._serve, self.bind, self.port)
        except OSError as exc:
            raise StartFailed(
                f"metrics: cannot listen on {self.bind}:{self.port} ({exc.strerror or exc}); "
                "choose another with --metrics-port"
            ) from exc
        host, port = self._server.sockets[0].getsockname()[:2]
        log.info("metrics on http://%s:%d", f"[{host}]" if ":" in host else host, port)
        self._unregister = metrics.register_source(self._families)
        self._refresher = asyncio.create_task(self._refresh_forever(), name="metrics refresh")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self._unregister is not None:
            self._unregister()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    # -- readiness ------------------------------------------------------------------------

    async def unready(self) -> str | None:
        """Why this process is not ready (one line), or None when it is."""
        if self.stopping.is_set():
            return "stopping"
        try:
            if not self.needs_worker:
                await ping(self.layer)
                return None
            workers = await asyncio.wait_for(self.layer.alive("worker"), CHECK_TIMEOUT)
        except UNREACHABLE as exc:
            return f"the layer does not answer ({exc or type(exc).__name__})"
        return None if workers else "no worker is alive on the layer"

    # -- gauges ---------------------------------------------------------------------------

    async def _refresh_forever(self) -> None:
        while True:
            names = sorted(set(self.channels()))
            try:
                self.figures = await self.layer.channel_figures(names) if names else {}
            except UNREACHABLE as exc:
                log.debug("no queue figures (%s)", exc)
            except NotImplementedError:
                return  # this layer cannot count its channels
            await asyncio.sleep(REFRESH_SECONDS)

    def _families(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        opened = GaugeMetricFamily(
            "gateways_open_connections",
            "open work per interface, as its drain counts it (sockets, requests in progress)",
            labels=["interface"],
        )
        for name, count in self.open_work().items():
            opened.add_metric([name], count)
        depth = GaugeMetricFamily(
            "gateways_channel_depth", "messages waiting on a channel", labels=["channel"]
        )
        age = GaugeMetricFamily(
            "gateways_channel_oldest_age_seconds",
            "how long the oldest waiting message has waited",
            labels=["channel"],
        )
        capacity = GaugeMetricFamily(
            "gateways_channel_capacity", "messages a channel holds at most", labels=["channel"]
        )
        for label, figures in _by_label(self.figures).items():
            depth.add_metric([label], figures["depth"])
            age.add_metric([label], figures["oldest_age"] or 0.0)
            capacity.add_metric([label], figures["capacity"])
        return [opened, depth, age, capacity]

    # -- the HTTP side --------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request per connection (``connection: close``), as probes and scrapers
        are content with."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            method, _, rest = head.partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            status, kind, body = await self._answer(method, path)
            writer.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n" % (status, _REASONS[status], kind.encode(), len(body))
            )
            if method != b"HEAD":
                writer.write(body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, method: bytes, path: bytes) -> tuple[int, str, bytes]:
        text = "text/plain; charset=utf-8"
        if path not in (b"/metrics", b"/ready", b"/live"):
            return 404, text, b"not found: try /metrics, /ready or /live\n"
        if method not in (b"GET", b"HEAD"):
            return 405, text, b"GET or HEAD only\n"
        if path == b"/live":
            return 200, text, b"live\n"
        if path == b"/ready":
            reason = await self.unready()
            return (
                (503, text, f"not ready: {reason}\n".encode())
                if reason
                else (200, text, b"ready\n")
            )
        body, kind = metrics.exposition()
        return 200, kind, body


def _by_label(figures: Mapping[str, ChannelFigures]) -> dict[str, ChannelFigures]:
    """Figures summed per channel label (two reply inboxes of one prefix: one series)."""
    merged: dict[str, ChannelFigures] = {}
    for channel, seen in figures.items():
        label = metrics.channel_label(channel)
        known = merged.get(label)
        if known is None:
            merged[label] = dict(seen)  # type: ignore[assignment]
            continue
        known["depth"] += seen["depth"]
        known["capacity"] += seen["capacity"]
        ages = [a for a in (known["oldest_age"], seen["oldest_age"]) if a is not None]
        known["oldest_age"] = max(ages) if ages else None
    return merged


# -- the two kinds of process ------------------------------------------------------------


def _address(settings: Settings) -> dict[str, Any]:
    return {
        "bind": settings["metrics_bind"],
        "port": settings.get("metrics_port"),
    }


def of_host(host: InterfaceHost, stopping: asyncio.Event) -> Monitor:
    """The monitor of ``gateways serve``: what its interfaces produce and consume, what its
    embedded workers receive; ready when some worker is alive (shared layers)."""
    from gateways.interface import Interface

    def channels() -> list[str]:
        produced = list(host.record()["produces"])
        for interface in host.interfaces:
            if isinstance(interface, Interface):
                produced += [
                    *interface.channels(),
                    *([interface.prefix] if interface.prefix else []),
                ]
        return produced + [c for worker in host.workers for c in worker.channels]

    return Monitor(
        host.layer,
        **_address(host.settings),
        stopping=stopping,
        channels=channels,
        open_work=lambda: host.record()["open"],
        needs_worker=not host.layer.process_local and bool(host.interfaces),
    )


def of_worker(settings: Settings, worker: Worker) -> Monitor:
    """The monitor of ``gateways worker``: ready when the layer answers."""
    return Monitor(
        worker.layer,
        **_address(settings),
        stopping=worker.stopping,
        channels=lambda: worker.channels,
    )
