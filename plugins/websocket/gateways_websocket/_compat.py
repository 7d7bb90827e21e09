"""Every use of autobahn's internals, in one place (tests/websocket/test_compat.py
fails loudly when an autobahn release changes one of them).

- ``factory._batched_timer``: autobahn schedules every protocol timer (open handshake,
  auto-ping, ping timeout, close handshake) through it, and its batched timer truncates
  each delay to a whole second; :func:`use_precise_timer` puts an exact one in its place.
- ``processHandshake``: autobahn calls it on every chunk that arrives while the socket
  is connecting, so while ``onConnect``'s Deferred is pending (the consumer has not
  answered yet) the request would be parsed, and ``onConnect`` run, again for every
  frame the client sends meanwhile; :class:`AnswerLater` stops that.
- ``sendCloseFrame``: the public ``sendClose`` only takes 1000 and 3000-4999, but a
  server must also send 1001 (going away), 1009, 1011, 1013 ...; :func:`send_close`.
- ``autoPingTimeoutCall``: the pending "no pong in time" call, which autobahn cancels
  when a pong (or any frame) arrives or the connection is lost; :func:`ping_timeout_later`
  sets it again, for a socket whose reading is paused.
- ``failHandshake``: every refused handshake goes through it (ours and autobahn's own
  checks), so :meth:`AnswerLater.refusing` hears of each one, for the access log.
- ``dropConnection``/``wasClean``/``state``: once a close handshake is complete, a server
  aborts the TCP connection; when the peer's close frame was itself a protocol error,
  the 1002 autobahn wrote in the same turn was discarded by that abort, and the client
  saw 1006. :meth:`AnswerLater.dropConnection` closes gently in that one case (found by
  tests/fuzz/test_websocket_fuzz.py).
- ``_perMessageCompress``/``send_queue``/``maxMessagePayloadSize``: a frame prepared once
  (``factory.prepareMessage``) is written to each socket by :func:`send_prepared` when
  nothing autobahn does per socket applies (no compression negotiated, nothing queued
  for a synchronous send, within the size limit); autobahn's own ``sendData`` formats
  three debug log fields per frame even when debug logging is off.
  The frame goes through the http plugin's :func:`gateways_http.writing.write`
  (straight to the socket when Twisted holds nothing unsent: Twisted's own ``write``
  costs two ``epoll_ctl`` calls and a loop turn per frame, most of a broadcast's cost).
- ``CONFIG_ATTRS`` and ``_connectionMade``'s "copy each option from the factory unless
  the protocol has it already": :func:`protocol_class` gives the options to a class
  once, instead of some thirty entries in every socket's ``__dict__``.
- ``send_queue``: a deque (some 700 bytes even empty) per socket that only synchronous
  or chopped sends use; :class:`SendQueue` makes one only if such a send happens.
- What ``processHandshake``/``succeedHandshake`` keep of the opening handshake
  (request bytes, parsed headers, response text; "for the testsuite", autobahn says)
  and nothing reads afterwards: :func:`forget_handshake` drops it once the socket is
  open.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from typing import Any, TypeVar

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.protocol import PreparedMessage
from gateways_http.writing import write
from twisted.internet.defer import Deferred

__all__ = [
    "AnswerLater",
    "PreciseTimer",
    "SendQueue",
    "forget_handshake",
    "ping_timeout_later",
    "protocol_class",
    "send_close",
    "send_prepared",
    "use_precise_timer",
]


class PreciseTimer:
    """Stands in for autobahn's batched timer, which truncates every delay to a whole
    second (so a 0.5 s ping interval became a ping storm, and timeouts fired up to 1 s
    early). One asyncio timer per call is cheap enough and exact."""

    def call_later(self, delay: float, func: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        if kwargs:
            return loop.call_later(delay, functools.partial(func, *args, **kwargs))
        return loop.call_later(delay, func, *args)


def use_precise_timer(factory: WebSocketServerFactory) -> None:
    """Make the protocols of ``factory`` schedule their timers exactly."""
    factory._batched_timer = PreciseTimer()


P = TypeVar("P", bound=WebSocketServerProtocol)

#: What autobahn keeps of an opening handshake that nothing reads once it succeeded.
HANDSHAKE_LEFTOVERS = (
    "http_headers",
    "http_request_data",
    "http_request_params",
    "http_response_data",
    "http_status_line",
    "websocket_extensions",
    "_wskey",
)


def protocol_class(base: type[P], factory: WebSocketServerFactory) -> type[P]:
    """A subclass of ``base`` that holds ``factory``'s protocol options itself, so that
    autobahn copies none of them onto each protocol it starts. Functions among them
    (``perMessageCompressionAccept``) stay plain functions, not methods."""
    options = {}
    for name in base.CONFIG_ATTRS:
        value = getattr(factory, name)
        options[name] = staticmethod(value) if callable(value) else value
    return type(base.__name__, (base,), options)


class SendQueue:
    """Autobahn's ``send_queue`` (``len``, ``append``, ``popleft``), holding a deque only
    while a synchronous or chopped send has something queued."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: deque[Any] | None = None

    def __len__(self) -> int:
        return 0 if self._items is None else len(self._items)

    def append(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)

    def popleft(self) -> Any:
        if self._items is None:
            raise IndexError("pop from an empty send queue")
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item


def forget_handshake(protocol: WebSocketServerProtocol) -> None:
    """Drop what autobahn kept of the opening handshake (see HANDSHAKE_LEFTOVERS)."""
    for name in HANDSHAKE_LEFTOVERS:
        setattr(protocol, name, None)


class AnswerLater(WebSocketServerProtocol):
    """A server protocol whose ``onConnect`` answers later: it sets ``handshake`` to the
    Deferred it returns, and the request is parsed once, however many chunks follow."""

    handshake: Deferred[Any] | None = None

    def _connectionMade(self) -> None:
        super()._connectionMade()
        self.send_queue = SendQueue()  # type: ignore[assignment]  # all it uses of a deque

    def processHandshake(self) -> None:
        if self.handshake is not None:
            return  # frames sent before our answer wait in self.data; never re-parse them
        super().processHandshake()

    def failHandshake(self, reason: str, code: int = 400, responseHeaders: Any = None) -> None:
        self.refusing(code, reason)
        super().failHandshake(reason, code, responseHeaders)

    def refusing(self, status: int, reason: str) -> None:
        """The handshake is being refused with HTTP ``status``; the answer follows."""

    def dropConnection(self, abort: bool = False) -> None:
        """Flush before closing once the close handshake is complete: what was just
        written (our close frame) reaches the peer. Every other abort (timeouts, a
        drain's end) sets ``wasClean`` False first and stays an abort."""
        if abort and self.wasClean and self.state == self.STATE_CLOSING:
            abort = False
        super().dropConnection(abort)


def send_close(protocol: WebSocketServerProtocol, code: int) -> None:
    """Send a close frame with any code a server may send (RFC 6455 section 7.4)."""
    protocol.sendCloseFrame(code=code, isReply=False)


def ping_timeout_later(protocol: WebSocketServerProtocol, callback: Any) -> None:
    """Give the peer another ``autoPingTimeout`` to answer the pending ping, then call
    ``callback`` (cancelled as autobahn's own deadline is: by a pong, any frame, or the
    connection's loss)."""
    timeout: float = protocol.factory.autoPingTimeout  # the protocol's copy of it
    protocol.autoPingTimeoutCall = protocol.factory._batched_timer.call_later(timeout, callback)


def send_prepared(protocol: WebSocketServerProtocol, prepared: PreparedMessage, size: int) -> bool:
    """Write a frame prepared once (``size``: its payload's length) to an open socket;
    False, having written nothing, when autobahn must frame it for this socket itself
    (compression negotiated, a synchronous send queued, over the size limit)."""
    if (
        protocol._perMessageCompress is not None
        or protocol.send_queue
        or 0 < protocol.maxMessagePayloadSize < size  # type: ignore[attr-defined]
    ):
        return False
    write(protocol.transport, prepared.payloadHybi)
    return True
