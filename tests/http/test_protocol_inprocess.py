"""``HttpProtocol`` driven in-process, as uvicorn tests its protocols: bytes go in through
Twisted's ``StringTransport``, ``http.request`` comes out on a real memory layer, and a
reply sent on that layer is written back as HTTP/1.1 on the transport.

No port and no reactor: the interface runs on the test's asyncio loop without listening
(``endpoints()`` is empty), so each test sees every byte and every state change.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from gateways_http.body import CHUNK
from gateways_http.exchange import State
from gateways_http.interface import HttpInterface
from gateways_http.protocol import HttpProtocol
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from tests.fixtures.http import Unplugged, unplugged

TEXT = [[b"content-type", b"text/plain"]]


@pytest.fixture
async def interface() -> AsyncIterator[Unplugged]:
    async with unplugged() as running:
        yield running


class Watched(StringTransport):
    """A ``StringTransport`` that says when the protocol wrote or closed."""

    def __init__(self) -> None:
        super().__init__(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 8000),
            peerAddress=IPv4Address("TCP", "127.0.0.1", 50123),
        )
        self.changed = asyncio.Event()

    def write(self, data: bytes) -> None:
        super().write(data)
        self.changed.set()

    def loseConnection(self) -> None:
        super().loseConnection()
        self.changed.set()


def connect(interface: HttpInterface) -> tuple[HttpProtocol, Watched]:
    transport = Watched()
    conn = interface.server.buildProtocol(None)
    conn.makeConnection(transport)
    return conn, transport


async def next_request(interface: HttpInterface) -> dict[str, Any]:
    channel, message = await interface.layer.receive(["http.request"], timeout=5)
    assert channel == "http.request", "no http.request reached the layer"
    return message


async def until(transport: Watched, condition: Callable[[], Any]) -> None:
    """Let the interface run until ``condition()`` holds after a write or close."""
    async with asyncio.timeout(5):
        while not condition():
            transport.changed.clear()
            await transport.changed.wait()


async def reply(interface: HttpInterface, request: dict[str, Any], **message: Any) -> None:
    await interface.layer.send(request["reply_channel"], message)


async def test_get_becomes_http_request_and_the_reply_is_written_as_http11(interface):
    conn, transport = connect(interface)
    conn.dataReceived(b"GET /a%20b?x=1 HTTP/1.1\r\nHost: t\r\nX-Seen: yes\r\n\r\n")
    request = await next_request(interface)
    assert request == {
        "reply_channel": request["reply_channel"],
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/a b",
        "query_string": b"x=1",
        "root_path": "",
        "headers": [[b"host", b"t"], [b"x-seen", b"yes"]],
        "body": b"",
        "body_channel": None,
        "client": ["127.0.0.1", 50123],
        "server": ["127.0.0.1", 8000],
        "__deadline__": request["__deadline__"],
    }
    # Workers drop it unrun once the interface has given up on it (--http-timeout, 120 s).
    assert 100 < request["__deadline__"] - interface.layer.clock("http.request") <= 120
    assert request["reply_channel"].startswith("http.response.")
    assert conn.queue[0].state is State.DISPATCHED

    await reply(interface, request, status=200, headers=TEXT, content=b"hello")
    await until(transport, lambda: transport.value().endswith(b"hello"))
    head, body = transport.value().split(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"content-type: text/plain" in lines and b"content-length: 5" in lines
    assert any(line.startswith(b"date: ") for line in lines)
    assert body == b"hello"
    assert not conn.queue and not transport.disconnecting  # keep-alive: ready for more
    assert interface.outstanding() == 0


async def test_pipelined_requests_are_answered_in_order(interface):
    conn, transport = connect(interface)
    conn.dataReceived(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n")
    first = await next_request(interface)
    assert first["path"] == "/1"
    second = conn.queue[1]
    assert second.state is State.RECEIVING  # waits until the first is answered
    assert transport.producerState == "paused"  # and the connection stops reading

    await reply(interface, first, status=200, content=b"one")
    following = await next_request(interface)
    assert following["path"] == "/2"
    assert transport.producerState == "producing"
    await reply(interface, following, status=200, content=b"two")
    await until(transport, lambda: transport.value().endswith(b"two"))
    replies = transport.value().split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in replies] == [b"one", b"two"]


async def test_bad_request_gets_400_and_the_connection_closes(interface):
    conn, transport = connect(interface)
    conn.dataReceived(b"NOT HTTP AT ALL\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close\r\n" in transport.value()
    assert transport.disconnecting
    conn.dataReceived(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # nothing more is read
    assert interface.outstanding() == 0


async def test_keep_alive_until_the_client_asks_to_close(interface):
    conn, transport = connect(interface)
    conn.dataReceived(b"GET /kept HTTP/1.1\r\nHost: t\r\n\r\n")
    await reply(interface, await next_request(interface), status=204)
    await until(transport, lambda: transport.value().startswith(b"HTTP/1.1 204"))
    assert b"connection:" not in transport.value()  # HTTP/1.1: keep-alive is the default
    assert not transport.disconnecting

    transport.clear()
    conn.dataReceived(b"GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    await reply(interface, await next_request(interface), status=200, content=b"bye")
    await until(transport, lambda: transport.value().endswith(b"bye"))
    assert b"connection: close\r\n" in transport.value()
    assert transport.disconnecting


async def test_http10_closes_unless_asked_to_keep_alive(interface):
    conn, transport = connect(interface)
    conn.dataReceived(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    request = await next_request(interface)
    assert request["http_version"] == "1.0"
    await reply(interface, request, status=200, content=b"a")
    await until(transport, lambda: transport.value().endswith(b"a"))
    assert b"connection: keep-alive\r\n" in transport.value()
    assert not transport.disconnecting

    conn.dataReceived(b"GET /b HTTP/1.0\r\n\r\n")
    await reply(interface, await next_request(interface), status=200, content=b"b")
    await until(transport, lambda: transport.disconnecting)
    assert transport.value().endswith(b"connection: close\r\n\r\nb")


async def test_more_content_is_sent_chunked(interface):
    conn, transport = connect(interface)
    conn.dataReceived(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
    request = await next_request(interface)
    await reply(interface, request, status=200, headers=TEXT, content=b"a", more_content=True)
    await until(transport, lambda: transport.value().endswith(b"1\r\na\r\n"))
    assert b"transfer-encoding: chunked\r\n" in transport.value()
    assert conn.queue[0].state is State.RESPONDING

    await reply(interface, request, content=b"bc", more_content=True)
    await reply(interface, request, content=b"", more_content=False)
    await until(transport, lambda: transport.value().endswith(b"0\r\n\r\n"))
    assert transport.value().split(b"\r\n\r\n", 1)[1] == b"1\r\na\r\n2\r\nbc\r\n0\r\n\r\n"
    assert not conn.queue and not transport.disconnecting


async def test_client_leaving_mid_response_fails_the_exchange_and_tells_the_app(interface):
    conn, _ = connect(interface)
    conn.dataReceived(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
    request = await next_request(interface)
    exchange = conn.queue[0]
    conn.connectionLost(Failure(ConnectionDone()))
    assert exchange.state is State.FAILED
    _, message = await interface.layer.receive(["http.disconnect"], timeout=5)
    assert message == {"reply_channel": request["reply_channel"], "path": "/slow"}
    assert interface.outstanding() == 0


async def test_drain_waits_for_the_request_in_flight_and_closes_idle_connections(interface):
    busy, busy_transport = connect(interface)
    _, idle_transport = connect(interface)
    busy.dataReceived(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n")
    request = await next_request(interface)
    draining = asyncio.create_task(interface.drain(5))
    await until(idle_transport, lambda: idle_transport.disconnecting)
    assert interface.draining and interface.outstanding() == 1 and not draining.done()

    await reply(interface, request, status=200, content=b"done")
    await asyncio.wait_for(draining, 5)
    assert busy_transport.value().endswith(b"connection: close\r\n\r\ndone")
    assert busy_transport.disconnecting


async def test_a_body_cut_off_ends_its_stream_with_the_reason(interface):
    conn, _ = connect(interface)
    head = b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 600000\r\n\r\n"
    conn.dataReceived(head + b"a" * 300_000)  # past the first chunk: dispatched
    request = await next_request(interface)
    assert len(request["body"]) == CHUNK and request["body_channel"]
    conn.connectionLost(Failure(ConnectionDone()))
    _, last = await interface.layer.receive([request["body_channel"]], timeout=5)
    if last["more_content"]:  # what was sent before the client left
        _, last = await interface.layer.receive([request["body_channel"]], timeout=5)
    assert last == {"content": b"", "more_content": False, "error": "client disconnected"}


async def test_a_refusal_waits_for_the_answers_before_it(interface):
    conn, transport = connect(interface)
    conn.dataReceived(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\nXX\r\n\r\n")
    request = await next_request(interface)
    assert not transport.disconnecting and transport.value() == b""  # nothing yet
    assert transport.producerState == "paused"  # and nothing more is read

    await reply(interface, request, status=200, content=b"first")
    await until(transport, lambda: transport.disconnecting)
    first, refused = transport.value().split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200 OK") and first.endswith(b"first")
    assert refused.startswith(b"400 Bad Request") and b"connection: close" in refused


async def test_an_unfinished_header_line_is_bounded_and_counted(interface):
    conn, transport = connect(interface)
    conn.dataReceived(b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: " + b"a" * 1000)
    assert interface.server.buffered()["head"] > 1000
    for _ in range(100):  # 100 reads of a line that never ends
        conn.dataReceived(b"a" * 1000)
        if transport.disconnecting:
            break
    assert transport.value().startswith(b"HTTP/1.1 431 ")
    assert interface.server.buffered()["head"] == 0
