"""The HTTP interface: listens on Twisted endpoints; the SDK's :class:`Interface` runs
the one reply loop, the tasks and the drain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gateways.plugin import Host, Interface, register_source
from gateways_http.accesslog import AccessLog
from gateways_http.metrics import buffered_family
from gateways_http.options import HttpOptions, endpoint_strings
from gateways_http.server import HttpServer


def _scheme(description: str) -> str:
    return "https" if description.split(":", 1)[0] in ("ssl", "tls") else "http"


class HttpInterface(Interface):
    """HTTP/1.1 and HTTP/2 on every ``--http-endpoint`` (or ``--http-bind``:``--http-port``).

    ``access_log`` is public: other plugins serving on the HTTP port (WebSocket
    handshakes) may log there too.
    """

    name = "http"
    reply_prefix = "http.response"

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.options = HttpOptions.read(host.settings)
        log_to = self.options.access_log
        as_json = host.settings.get("log_format") == "json"  # like the other logs
        self.access_log = AccessLog(log_to, as_json) if log_to else None
        self.server = HttpServer(self.options, self, self.access_log)
        self.ports: list[Any] = []
        self._unregister: Callable[[], None] = lambda: None

    def endpoints(self) -> list[str]:
        """The Twisted endpoint strings to listen on."""
        return endpoint_strings(self.options)

    async def listen(self) -> None:
        self.daemon(self.server.sweep_forever(), "http timeouts")
        self._unregister = register_source(buffered_family(self.server.buffered))
        for description in self.endpoints():
            await self._listen_on(description)

    async def _listen_on(self, description: str) -> None:
        from twisted.internet import reactor
        from twisted.internet.endpoints import serverFromString

        try:
            endpoint = serverFromString(reactor, description)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"--http-endpoint {description!r}: {exc}") from None
        options = self.options
        if options.http_endpoint:
            address, flag = description, "--http-endpoint"
        else:
            address, flag = f"{options.http_bind}:{options.http_port}", "--http-port"
        listening = endpoint.listen(self.server).asFuture(asyncio.get_running_loop())
        port = await self.bind(listening, address=address, flag=flag)
        self.ports.append(port)
        address = port.getHost()
        host, number = getattr(address, "host", None), getattr(address, "port", None)
        if host is None or number is None:
            self.log.info("listening on unix:%s (http)", getattr(address, "name", description))
        else:
            self.listening(_scheme(description), host, number)

    async def stop_accepting(self) -> None:
        """Close the listening ports and the idle connections; requests in flight go on
        (their responses say ``connection: close``)."""
        loop = asyncio.get_running_loop()
        ports, self.ports = self.ports, []
        for port in ports:
            await port.stopListening().asFuture(loop)
        for conn in list(self.server.connections):
            conn.close_if_idle()

    def outstanding(self) -> int:
        return self.server.outstanding()

    async def close_all(self) -> None:
        self._unregister()
        for conn in list(self.server.connections):
            conn.kill()
        if self.access_log is not None:
            self.access_log.close()
