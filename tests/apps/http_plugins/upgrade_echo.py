"""A tiny plugin for the upgrade hand-over test: ``Upgrade: echo`` connections are taken
over by a protocol that replays the handshake from the raw bytes, then echoes."""

from __future__ import annotations

import json
import logging

from twisted.internet.protocol import Protocol

from gateways import hookimpl

log = logging.getLogger("upgrade_echo")


class EchoProtocol(Protocol):
    def __init__(self, request) -> None:
        self.request = request
        self.buffer = b""
        self.open = False

    def connectionMade(self) -> None:
        log.info("echo protocol took over %s", self.request.path)

    def dataReceived(self, data: bytes) -> None:
        if not self.open:
            self.buffer += data
            if b"\r\n\r\n" not in self.buffer:
                return
            head, data = self.buffer.split(b"\r\n\r\n", 1)
            self.open = True
            seen = {
                "request_line": head.split(b"\r\n")[0].decode(),
                "path": self.request.path,
                "raw_path": self.request.raw_path.decode(),
                "query_string": self.request.query_string.decode(),
                "root_path": self.request.root_path,
                "scheme": self.request.scheme,
                "method": self.request.method,
                "client": self.request.client,
                "server": self.request.server,
                "headers": [[n.decode(), v.decode()] for n, v in self.request.headers],
            }
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n"
                b"X-Seen: " + json.dumps(seen).encode() + b"\r\n\r\n"
            )
        if data:
            self.transport.write(b"echo:" + data)


@hookimpl
def gateways_http_upgrade(host, request):
    if request.upgrade == "echo":
        return EchoProtocol(request)
    return None


@hookimpl
def gateways_interfaces(host):
    # Runs nothing itself; implementing the hook lets `serve --plugin` load this module.
    return []
