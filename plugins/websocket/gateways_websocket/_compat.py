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
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet.defer import Deferred

__all__ = ["AnswerLater", "PreciseTimer", "ping_timeout_later", "send_close", "use_precise_timer"]


class PreciseTimer:
    """Stands in for autobahn's batched timer, which truncates every delay to a whole
    second (so a 0.5 s ping interval became a ping storm, and timeouts fired up to 1 s
    early). One asyncio timer per call is cheap enough and exact."""

    def call_later(self, delay: float, func: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return loop.call_later(delay, functools.partial(func, *args, **kwargs))


def use_precise_timer(factory: WebSocketServerFactory) -> None:
    """Make the protocols of ``factory`` schedule their timers exactly."""
    factory._batched_timer = PreciseTimer()


class AnswerLater(WebSocketServerProtocol):
    """A server protocol whose ``onConnect`` answers later: it sets ``handshake`` to the
    Deferred it returns, and the request is parsed once, however many chunks follow."""

    handshake: Deferred[Any] | None = None

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
