"""Twisted internals the http plugin relies on (gateways_http/_compat.py).

The direct write path (gateways_http/writing.py) reads undocumented attributes of a
TCP transport. If one of these tests fails after a Twisted upgrade, adapt
``_compat.idle_socket`` before that release is allowed (the pin is ``twisted<27``).

A real TCP connection on the test's loop: an ``AsyncioSelectorReactor`` made for the
test, never installed as the process's reactor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from gateways_http import writing
from gateways_http._compat import idle_socket
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.tcp import Connection

PRIVATE = (
    "TLS",
    "socket",
    "dataBuffer",
    "offset",
    "_tempDataLen",
    "_writeDisconnected",
    "_writeDisconnecting",
)


@dataclass
class Link:
    reactor: AsyncioSelectorReactor
    transport: Any
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


@pytest.fixture
async def link() -> AsyncIterator[Link]:
    loop = asyncio.get_running_loop()
    reactor = AsyncioSelectorReactor(loop)
    made: asyncio.Future[Any] = loop.create_future()

    class Server(Protocol):
        def connectionMade(self) -> None:
            made.set_result(self.transport)

    port = reactor.listenTCP(0, Factory.forProtocol(Server), interface="127.0.0.1")
    reader, writer = await asyncio.open_connection("127.0.0.1", port.getHost().port)
    transport = await asyncio.wait_for(made, 5)
    yield Link(reactor, transport, reader, writer)
    writer.close()
    transport.abortConnection()
    await port.stopListening().asFuture(loop)


def test_a_tcp_transport_still_has_the_attributes_read(link):
    transport = link.transport
    assert isinstance(transport, Connection)
    missing = [name for name in PRIVATE if not hasattr(transport, name)]
    assert not missing, f"Twisted's TCP transport lost {missing}: adapt gateways_http/_compat.py"
    assert (transport.TLS, transport._tempDataLen, transport.offset) == (False, 0, 0)
    assert transport.dataBuffer == b"" and transport._writeDisconnected is False


async def test_an_idle_tcp_connection_takes_the_direct_path(link):
    transport = link.transport
    assert idle_socket(transport) is transport.socket
    writing.write(transport, b"direct")
    # Nothing went through Twisted: no buffered bytes, no writer registered.
    assert transport._tempDataLen == 0 and transport not in link.reactor.getWriters()
    assert await asyncio.wait_for(link.reader.readexactly(6), 5) == b"direct"


async def test_bytes_waiting_in_twisted_go_first(link):
    transport = link.transport
    transport.write(b"queued ")  # buffered until the loop says writable
    assert transport._tempDataLen == 7
    assert idle_socket(transport) is None
    writing.write(transport, b"after")
    assert await asyncio.wait_for(link.reader.readexactly(12), 5) == b"queued after"
    assert idle_socket(transport) is transport.socket  # the buffer drained


def test_a_closing_or_non_tcp_transport_is_never_written_directly(link):
    assert idle_socket(object()) is None
    link.transport.loseConnection()
    assert idle_socket(link.transport) is None
