"""The autobahn internals ``gateways_websocket._compat`` relies on, each checked on a
real autobahn protocol fed bytes through Twisted's StringTransport: an autobahn release
that renames or reworks one fails here, by name, before sockets misbehave."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import autobahn
import pytest
from autobahn.twisted.websocket import WebSocketServerFactory
from gateways_websocket import _compat
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from websockets.frames import Close, Frame, Opcode

from tests.core.test_interface import wait_until
from tests.websocket.rawclient import Transport, frames_sent, request


class Later(_compat.AnswerLater):
    """Answers ``onConnect`` later, as the plugin's protocol does."""

    def __init__(self) -> None:
        super().__init__()
        self.connects = 0
        self.received: list[bytes] = []

    def onConnect(self, request: Any) -> Deferred[Any]:
        self.connects += 1
        self.handshake = Deferred()
        return self.handshake

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.received.append(payload)


@pytest.fixture
def connect() -> Iterator[Any]:
    """``connect(**protocol_options)``: a protocol on a StringTransport; lost at the end."""
    made: list[Later] = []

    def make(**options: Any) -> tuple[Later, Transport]:
        factory = WebSocketServerFactory(server="test")
        _compat.use_precise_timer(factory)
        factory.setProtocolOptions(**{"autoPingInterval": 0, **options})
        protocol, transport = Later(), Transport()
        protocol.factory = factory
        protocol.makeConnection(transport)
        made.append(protocol)
        return protocol, transport

    yield make
    for protocol in made:
        protocol.connectionLost(Failure(ConnectionDone()))  # cancels autobahn's timers


def opened(protocol: Later, transport: StringTransport, asked: bool = False) -> None:
    """Complete the handshake (send the request first unless ``asked``)."""
    if not asked:
        protocol.dataReceived(request("/", "example.com"))
    assert protocol.handshake is not None
    protocol.handshake.callback(None)
    assert transport.value().startswith(b"HTTP/1.1 101"), transport.value()[:200]


def seconds_until(handle: Any) -> float:
    assert isinstance(handle, asyncio.TimerHandle), (
        f"autobahn {autobahn.__version__} no longer schedules through "
        f"factory._batched_timer (got {handle!r}); see gateways_websocket/_compat.py"
    )
    return handle.when() - asyncio.get_running_loop().time()


def test_factories_still_have_a_batched_timer_to_replace():
    timer = getattr(WebSocketServerFactory(), "_batched_timer", None)
    assert callable(getattr(timer, "call_later", None)), (
        f"autobahn {autobahn.__version__}: WebSocketServerFactory._batched_timer is gone"
    )


async def test_protocol_timers_go_through_the_precise_timer(connect):
    protocol, transport = connect(openHandshakeTimeout=2.5, autoPingInterval=0.3)
    assert 2.4 < seconds_until(protocol.openHandshakeTimeoutCall) <= 2.5  # not truncated
    opened(protocol, transport)
    assert 0.2 < seconds_until(protocol.autoPingPendingCall) <= 0.3


async def test_a_pending_handshake_is_parsed_once_however_many_chunks_follow(connect):
    protocol, transport = connect()
    protocol.dataReceived(request("/", "example.com"))
    # A text frame "\r\n\r\n" under an all-zero mask: on the wire it reads like the end
    # of an HTTP head, which made autobahn parse the handshake (and ask) again.
    early = bytes([0x81, 0x84]) + bytes(4) + b"\r\n\r\n"
    protocol.dataReceived(early[:3])
    protocol.dataReceived(early[3:])
    assert protocol.connects == 1
    opened(protocol, transport, asked=True)
    assert protocol.connects == 1
    assert protocol.received == [b"\r\n\r\n"]  # frames sent before the answer are kept


async def test_send_close_sends_server_codes(connect):
    protocol, transport = connect()
    opened(protocol, transport)
    _compat.send_close(protocol, 1013)
    [frame] = frames_sent(transport)
    assert frame.opcode is Opcode.CLOSE
    assert Close.parse(frame.data).code == 1013
    assert protocol.state == protocol.STATE_CLOSING


async def test_a_ping_deadline_set_again_is_answered_by_the_pong_as_autobahns_own(connect):
    protocol, transport = connect(autoPingInterval=0.05, autoPingTimeout=5)
    opened(protocol, transport)
    await wait_until(lambda: protocol.autoPingTimeoutCall is not None)  # a ping went out
    protocol.autoPingTimeoutCall.cancel()
    _compat.ping_timeout_later(protocol, protocol.onAutoPingTimeout)
    again = protocol.autoPingTimeoutCall
    assert 4.9 < seconds_until(again) <= 5
    pong = Frame(Opcode.PONG, protocol.autoPingPending).serialize(mask=True, extensions=[])
    protocol.dataReceived(pong)
    assert again.cancelled() and protocol.autoPingTimeoutCall is None


# -- the send path and per-socket memory ---------------------------------------------------


def test_the_protocol_class_holds_the_options_and_each_protocol_none(connect):
    factory = WebSocketServerFactory(server="test")
    factory.setProtocolOptions(autoPingInterval=7, maxMessagePayloadSize=1234)
    made = _compat.protocol_class(Later, factory)
    assert made.autoPingInterval == 7 and made.maxMessagePayloadSize == 1234
    protocol, transport = Later(), Transport()
    protocol.__class__ = made
    protocol.factory = factory
    protocol.makeConnection(transport)
    try:
        assert not set(made.CONFIG_ATTRS) & set(vars(protocol)), (
            f"autobahn {autobahn.__version__} copies protocol options onto each protocol "
            "even when its class has them; see gateways_websocket/_compat.py"
        )
        # a function option (called as autobahn calls it) is not turned into a method
        assert protocol.perMessageCompressionAccept([]) is None
    finally:
        protocol.connectionLost(Failure(ConnectionDone()))


async def test_synchronous_sends_still_go_out_in_order_through_the_send_queue(connect):
    protocol, transport = connect()
    opened(protocol, transport)
    assert isinstance(protocol.send_queue, _compat.SendQueue)
    protocol.sendMessage(b"one", sync=True)
    protocol.sendMessage(b"two")
    await wait_until(lambda: len(frames_sent(transport)) == 2)
    assert [f.data for f in frames_sent(transport)] == [b"one", b"two"]
    assert len(protocol.send_queue) == 0


async def test_what_the_handshake_left_is_dropped_and_the_socket_still_works(connect):
    protocol, transport = connect()
    opened(protocol, transport)
    assert protocol.http_headers["host"] == "example.com"  # what autobahn kept
    _compat.forget_handshake(protocol)
    assert all(getattr(protocol, name) is None for name in _compat.HANDSHAKE_LEFTOVERS)
    protocol.sendMessage(b"still open")
    protocol.dataReceived(Frame(Opcode.TEXT, b"hi").serialize(mask=True, extensions=[]))
    assert protocol.received == [b"hi"]
    assert [f.data for f in frames_sent(transport)] == [b"still open"]


async def test_a_prepared_frame_is_written_as_is_unless_autobahn_must_frame_it(connect):
    protocol, transport = connect(maxMessagePayloadSize=10)
    opened(protocol, transport)
    prepared = protocol.factory.prepareMessage(b"hello", doNotCompress=True)
    assert _compat.send_prepared(protocol, prepared, 5)
    [frame] = frames_sent(transport)
    assert frame.opcode is Opcode.TEXT and frame.data == b"hello"
    too_large = protocol.factory.prepareMessage(b"x" * 11, doNotCompress=True)
    assert not _compat.send_prepared(protocol, too_large, 11)
    protocol.send_queue.append((b"queued", True))  # as a synchronous send leaves it
    assert not _compat.send_prepared(protocol, prepared, 5)
    assert len(frames_sent(transport)) == 1  # neither refused frame was written
