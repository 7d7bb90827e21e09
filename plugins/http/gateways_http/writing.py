"""Writing to a connection without a detour through the event loop.

Twisted buffers every ``transport.write`` until the socket reports writable, which on
the asyncio reactor costs two ``epoll_ctl`` calls and a loop turn per response (about
a tenth of the CPU time of a hello request). When nothing is waiting in Twisted's
buffer, a plain TCP transport can send at once (what asyncio transports do); whatever
the kernel does not take goes through ``transport.write`` as usual. TLS transports and
anything unusual always take the ordinary path (:func:`gateways_http._compat.idle_socket`).
"""

from __future__ import annotations

from typing import Any

from gateways_http._compat import idle_socket


def write(transport: Any, data: bytes) -> None:
    sock = idle_socket(transport)
    if sock is None:
        transport.write(data)
        return
    try:
        sent = sock.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        transport.write(data)  # let Twisted see and report the failure
        return
    if sent < len(data):
        transport.write(data[sent:])
