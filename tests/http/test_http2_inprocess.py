"""HTTP/2 driven in-process (as ``test_protocol_inprocess`` drives HTTP/1.1): h2 as the
client writes frames into Twisted's ``StringTransport``, ``http.request`` comes out on a
real memory layer, and the reply is read back as frames. Each byte boundary is the
test's choice, so a preface split anywhere is checked exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from gateways_http.h2protocol import H2Protocol
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    InformationalResponseReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)

from tests.fixtures.http import Unplugged, unplugged
from tests.http.test_protocol_inprocess import (
    Watched,
    connect,
    next_request,
    reply,
    until,
)


@pytest.fixture
async def interface() -> AsyncIterator[Unplugged]:
    async with unplugged() as running:
        yield running


REQUEST = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"t"), (b":path", b"/a")]


def client() -> H2Connection:
    h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    h2.initiate_connection()
    return h2


def answers(h2: H2Connection, transport: Watched) -> list[Event]:
    """What the server wrote so far, as events of the client."""
    events = h2.receive_data(transport.value())
    transport.clear()
    return events


@pytest.mark.parametrize("split", [1, 3, 16, 23, 24, 30])
async def test_preface_split_anywhere_is_http2(interface, split):
    conn, transport = connect(interface)
    h2 = client()
    h2.send_headers(1, [*REQUEST, (b"cookie", b"a=1"), (b"cookie", b"b=2")], end_stream=True)
    data = h2.data_to_send()
    conn.dataReceived(data[:split])
    getattr(transport, "protocol", conn).dataReceived(data[split:])  # after a take-over
    assert isinstance(transport.protocol, H2Protocol)  # took over the transport
    request = await next_request(interface)
    assert (request["http_version"], request["path"], request["scheme"]) == ("2", "/a", "http")
    # :authority as host; the split cookie is one header again (RFC 9113 8.2.3).
    assert request["headers"] == [[b"host", b"t"], [b"cookie", b"a=1; b=2"]]
    assert request["client"] == ["127.0.0.1", 50123]
    await reply(interface, request, status=200, headers=[[b"connection", b"close"]], content=b"hi")
    await until(transport, lambda: b"hi" in transport.value())
    events = answers(h2, transport)
    head = next(e for e in events if isinstance(e, ResponseReceived))
    fields = dict(head.headers)
    assert fields[b":status"] == b"200" and fields[b"content-length"] == b"2"
    assert b"connection" not in fields  # connection-specific: dropped
    assert b"".join(e.data for e in events if isinstance(e, DataReceived)) == b"hi"
    assert any(isinstance(e, StreamEnded) for e in events)
    assert interface.outstanding() == 0


async def test_http11_request_starting_like_the_preface_stays_http11(interface):
    conn, transport = connect(interface)
    conn.dataReceived(b"P")
    conn.dataReceived(b"OST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
    request = await next_request(interface)
    assert (request["http_version"], request["method"], request["body"]) == ("1.1", "POST", b"hi")
    assert not hasattr(transport, "protocol")  # never taken over


async def test_upgrade_h2c_answers_101_and_serves_the_request_as_stream_1(interface):
    conn, transport = connect(interface)
    h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    settings = h2.initiate_upgrade_connection()
    conn.dataReceived(
        b"GET /up?q=1 HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n" + h2.data_to_send()
    )
    request = await next_request(interface)
    assert (request["http_version"], request["path"], request["query_string"]) == (
        "2",
        "/up",
        b"q=1",
    )
    assert request["headers"] == [[b"host", b"t"]]
    switched, _, frames = transport.value().partition(b"\r\n\r\n")
    assert switched.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    transport.clear()
    h2.receive_data(frames)  # the server's SETTINGS
    await reply(interface, request, status=204)
    await until(transport, lambda: transport.value() != b"")
    events: list[Any] = answers(h2, transport)
    assert dict(events[0].headers)[b":status"] == b"204"
    assert any(isinstance(e, StreamEnded) and e.stream_id == 1 for e in events)


async def h2_connection(interface) -> tuple[H2Protocol, Watched, H2Connection]:
    """A connection that became HTTP/2 by its preface, its SETTINGS exchanged."""
    conn, transport = connect(interface)
    h2 = client()
    conn.dataReceived(h2.data_to_send())
    protocol = transport.protocol  # type: ignore[attr-defined]
    assert isinstance(protocol, H2Protocol)
    answers(h2, transport)
    protocol.dataReceived(h2.data_to_send())  # the client's SETTINGS ACK
    transport.clear()
    return protocol, transport, h2


def send(protocol: H2Protocol, h2: H2Connection) -> None:
    protocol.dataReceived(h2.data_to_send())


async def test_idle_connection_gets_goaway_and_closes(interface):
    protocol, transport, h2 = await h2_connection(interface)
    protocol.check_deadlines(interface.server.loop.time() + 1000)  # past --http-idle-timeout
    events = answers(h2, transport)
    assert [type(e) for e in events] == [ConnectionTerminated]
    assert events[0].error_code == ErrorCodes.NO_ERROR
    assert transport.disconnecting


async def test_drain_refuses_new_streams_and_closes_after_the_last(interface):
    protocol, transport, h2 = await h2_connection(interface)
    h2.send_headers(1, REQUEST, end_stream=True)
    send(protocol, h2)
    request = await next_request(interface)
    protocol.close_if_idle()  # SIGTERM: a stream is in flight
    assert interface.outstanding() == 1
    h2.send_headers(3, REQUEST, end_stream=True)
    send(protocol, h2)
    refused = answers(h2, transport)
    assert [(type(e), e.stream_id, e.error_code) for e in refused] == [
        (StreamReset, 3, ErrorCodes.REFUSED_STREAM)  # safe to retry elsewhere
    ]
    await reply(interface, request, status=200, content=b"done")
    await until(transport, lambda: transport.disconnecting)
    events = answers(h2, transport)
    assert b"".join(e.data for e in events if isinstance(e, DataReceived)) == b"done"
    assert isinstance(events[-1], ConnectionTerminated)
    assert interface.outstanding() == 0


async def test_aborted_response_resets_its_stream_only(interface):
    protocol, transport, h2 = await h2_connection(interface)
    h2.send_headers(1, REQUEST, end_stream=True)
    send(protocol, h2)
    request = await next_request(interface)
    await reply(interface, request, status=200, content=b"begun", more_content=True)
    await until(transport, lambda: b"begun" in transport.value())
    answers(h2, transport)
    await reply(interface, request, abort=True)
    await until(transport, lambda: transport.value() != b"")
    events = answers(h2, transport)
    assert [(type(e), e.error_code) for e in events] == [(StreamReset, ErrorCodes.INTERNAL_ERROR)]
    _, message = await interface.layer.receive(["http.disconnect"], timeout=5)
    assert message["reply_channel"] == request["reply_channel"]  # as HTTP/1.1 says it
    assert not transport.disconnecting  # other streams go on
    h2.send_headers(3, REQUEST, end_stream=True)
    send(protocol, h2)
    assert (await next_request(interface))["http_version"] == "2"


async def test_expect_100_continue_gets_an_informational_response(interface):
    protocol, transport, h2 = await h2_connection(interface)
    h2.send_headers(1, [*REQUEST, (b"expect", b"100-continue")])
    send(protocol, h2)
    events = answers(h2, transport)
    assert [type(e) for e in events] == [InformationalResponseReceived]
    assert dict(events[0].headers)[b":status"] == b"100"
    h2.send_data(1, b"body", end_stream=True)
    send(protocol, h2)
    assert (await next_request(interface))["body"] == b"body"


async def test_declined_upgrade_with_a_chunked_body_keeps_its_body(interface):
    """llhttp leaves an upgrade request's body unparsed (it would be the new protocol's):
    declined, the body is read as HTTP/1.1 and the next request after it too."""
    conn, _ = connect(interface)
    conn.dataReceived(
        b"POST /up HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    request = await next_request(interface)
    assert (request["http_version"], request["body"]) == ("1.1", b"hello")
    await reply(interface, request, status=200, content=b"one")
    assert (await next_request(interface))["path"] == "/next"
