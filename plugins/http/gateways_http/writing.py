"""Writing to a connection without a detour through the event loop.

Twisted buffers every ``transport.write`` until the socket reports writable, which on
the asyncio reactor costs two ``epoll_ctl`` calls and a loop turn per response (about
a tenth of the CPU time of a hello request). When nothing is waiting in Twisted's
buffer, a plain TCP transport can send at once (what asyncio transports do); whatever
the kernel does not take goes through ``transport.write`` as usual. TLS transports and
anything unusual always take the ordinary path.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.tcp import Connection


def write(transport: Any, data: bytes) -> None:
    # Exactly a plain TCP connection: TLS wrappers forward attribute lookups to the
    # socket underneath, which must never see plain text.
    if (
        not isinstance(transport, Connection)
        or transport.TLS
        or not transport.connected
        or transport.disconnecting
        or transport._tempDataLen
        or len(transport.dataBuffer) != transport.offset
    ):
        transport.write(data)
        return
    try:
        sent = transport.socket.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        transport.write(data)  # let Twisted see and report the failure
        return
    if sent < len(data):
        transport.write(data[sent:])
