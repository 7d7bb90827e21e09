"""``WebsocketCommunicator``: one WebSocket through the consumers, no server.

It sends ``websocket.connect`` / ``receive`` / ``disconnect`` as the WebSocket plugin
does (design section 7, ``order`` counted from 0) and reads the replies as a client
sees them: the handshake's outcome, then text and binary frames, then the close.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from gateways.layers import BaseChannelLayer
from gateways.testing.base import TIMEOUT, App, ApplicationCommunicator
from gateways.testing.http import Headers, header_list

#: A frame or a close as the client sees it: ("text", str), ("bytes", b), ("close", code).
Event = tuple[str, Any]


def close_code(reply: dict[str, Any]) -> int | None:
    """The close a reply asks for (``True`` is 1000), or None."""
    close = reply.get("close")
    if close is None or close is False:
        return None
    return 1000 if close is True else int(close)


class WebsocketCommunicator(ApplicationCommunicator):
    """One socket to ``app``: ``await comm.connect()``, ``send_text``/``send_bytes``,
    ``receive_text``/``receive_bytes``, ``await comm.disconnect()``.

    ``scheme``, ``root_path``, ``client`` and ``server`` give those keys of
    ``websocket.connect``; ``layer``, ``raise_errors`` and ``timeout`` are those of
    :class:`ApplicationCommunicator`.

    Args:
        app: Routes, a router, ``module:attribute``, or one consumer for every
            ``websocket.*`` channel.
        path: The request path (a ``?query`` part becomes ``query_string``).
        headers: Handshake headers (``{"origin": ...}`` or pairs).
        subprotocols: Subprotocols the client offers.

    Attributes:
        accepted: True once the socket opened, False if refused, None before.
        subprotocol: The subprotocol the consumer accepted with, if any.
        status: The HTTP status of a refused handshake (403 unless the consumer said).
        close_code: The code the consumer closed the socket with, once it did.
    """

    channels = ("websocket.connect", "websocket.receive", "websocket.disconnect")
    reply_prefix = "websocket.send"
    numbered = True

    def __init__(
        self,
        app: App,
        path: str = "/",
        headers: Headers | None = None,
        subprotocols: Sequence[str] = (),
        *,
        scheme: str = "ws",
        root_path: str = "",
        client: tuple[str, int] | None = ("127.0.0.1", 51000),
        server: tuple[str, int] | None = ("127.0.0.1", 8000),
        layer: BaseChannelLayer | None = None,
        raise_errors: bool = True,
        timeout: float = TIMEOUT,
    ) -> None:
        super().__init__(app, layer=layer, raise_errors=raise_errors, timeout=timeout)
        self.path, _, query = path.partition("?")
        self.query_string = query.encode("latin-1")
        self.headers = header_list(headers)
        self.subprotocols = list(subprotocols)
        if self.subprotocols and not any(n == b"sec-websocket-protocol" for n, _ in self.headers):
            offered = ", ".join(self.subprotocols).encode()
            self.headers.append([b"sec-websocket-protocol", offered])
        self.scheme, self.root_path = scheme, root_path
        self.client = list(client) if client else None
        self.server = list(server) if server else None
        self.accepted: bool | None = None
        self.subprotocol: str | None = None
        self.status: int | None = None
        self.close_code: int | None = None
        self._order = 0
        self._events: deque[Event] = deque()

    def connect_message(self, reply_channel: str) -> dict[str, Any]:
        """The ``websocket.connect`` message (design section 7) this socket sends."""
        return {
            "reply_channel": reply_channel,
            "scheme": self.scheme,
            "path": self.path,
            "query_string": self.query_string,
            "root_path": self.root_path,
            "headers": self.headers,
            "client": self.client,
            "server": self.server,
            "subprotocols": self.subprotocols,
            "order": 0,
        }

    async def connect(self, timeout: float | None = None) -> bool:
        """Open the socket: True when the consumer accepted it (or sent data), False
        when it refused (:attr:`status` says how); the worker stops on a refusal."""
        await self.start()
        assert self.reply_channel is not None
        await self.send_input("websocket.connect", self.connect_message(self.reply_channel))
        while self.accepted is None:
            self._apply(await self.receive_output(timeout))
        if not self.accepted:
            await self.stop()
        return self.accepted

    def _apply(self, reply: dict[str, Any]) -> None:
        """A reply as the socket applies it: accept, then data, then close."""
        code = close_code(reply)
        opens = bool(reply.get("accept")) or "text" in reply or "bytes" in reply
        if self.accepted is None:
            if reply.get("accept") is False or (code is not None and not opens):
                self.accepted = False
                self.status = int(reply.get("status") or (500 if code == 1011 else 403))
                return
            if not opens:
                return  # nothing decided yet
            self.accepted, self.subprotocol = True, reply.get("subprotocol")
        if self.close_code is not None:
            return  # closed: the client gets nothing more
        if "text" in reply:
            self._events.append(("text", reply["text"]))
        if "bytes" in reply:
            self._events.append(("bytes", bytes(reply["bytes"])))
        if code is not None:
            self.close_code = code
            self._events.append(("close", code))

    def _next_order(self) -> int:
        self._order += 1
        return self._order

    async def _frame(self, key: str, value: str | bytes) -> None:
        if not self.accepted or self.close_code is not None:
            raise AssertionError(f"the socket is not open (close code {self.close_code})")
        assert self.reply_channel is not None
        message: dict[str, Any] = {"reply_channel": self.reply_channel, "path": self.path}
        message.update({key: value, "order": self._next_order()})
        await self.send_input("websocket.receive", message)

    async def send_text(self, text: str) -> None:
        """A text frame from the client (``websocket.receive`` with ``text``)."""
        await self._frame("text", text)

    async def send_bytes(self, data: bytes) -> None:
        """A binary frame from the client (``websocket.receive`` with ``bytes``)."""
        await self._frame("bytes", data)

    async def receive_event(self, timeout: float | None = None) -> Event:
        """The next thing the client sees: ("text", str), ("bytes", b) or ("close", code)."""
        while not self._events:
            if self.close_code is not None:
                raise AssertionError(f"the socket was closed with {self.close_code}")
            self._apply(await self.receive_output(timeout))
        return self._events.popleft()

    async def _receive(self, kind: str, timeout: float | None) -> Any:
        event = await self.receive_event(timeout)
        if event[0] != kind:
            raise AssertionError(f"expected a {kind} frame, got {event!r}")
        return event[1]

    async def receive_text(self, timeout: float | None = None) -> str:
        """The next frame, which must be text."""
        text: str = await self._receive("text", timeout)
        return text

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next frame, which must be binary."""
        data: bytes = await self._receive("bytes", timeout)
        return data

    async def receive_close(self, timeout: float | None = None) -> int:
        """Wait for the consumer to close the socket; its close code. The client answers
        with ``websocket.disconnect`` as a server would, and the worker stops."""
        code: int = await self._receive("close", timeout)
        await self.disconnect(code)
        return code

    async def disconnect(self, code: int = 1000, timeout: float | None = None) -> None:
        """Close from the client side (``websocket.disconnect`` with ``code``, 1006 for a
        dropped connection); returns once it was handled and the worker stopped."""
        if self.accepted and self.running:
            assert self.reply_channel is not None
            message = {
                "reply_channel": self.reply_channel,
                "path": self.path,
                "code": code,
                "order": self._next_order(),
            }
            await self.send_input("websocket.disconnect", message)
            await self.wait_idle(timeout)
        await self.stop()
