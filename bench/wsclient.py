"""A lean asyncio WebSocket client for holding thousands of sockets in one process.

The ``websockets`` library costs tens of microseconds and a task per frame; for a
broadcast to 10,000 sockets the client would then be the bottleneck of the measure. This
client is an ``asyncio.Protocol`` per socket that only notes *when* a text frame carrying
an expected payload arrives (server frames are unmasked, so parsing is slicing). It
answers pings (servers close sockets that do not) and records a close or a reset as the
socket's ``error``.

    sockets = await open_sockets("127.0.0.1", 8000, "/bench", 1000)
    fanout = Fanout(sockets)
    latencies = await fanout.round("broadcast:", 1, timeout=30)   # seconds per socket
    close_all(sockets)
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Callable, Sequence

OPEN_AT_ONCE = 50  # handshakes in flight; channels_redis fails past its 100-connection pool


class WsSocket(asyncio.Protocol):
    """One client socket: handshake, then frames; calls ``on_text(self, payload)``."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.request = _handshake(host, port, path)
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.error = ""
        self.on_text: Callable[[WsSocket, bytes], None] = lambda sock, payload: None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.opened.done():
            self._read_handshake()
        if self.opened.done():
            self._read_frames()

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = self.error or f"connection lost ({exc or 'closed by the server'})"
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(self.error))

    def send_text(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(_masked_frame(0x1, text.encode()))

    def _read_handshake(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
        del self.buffer[: end + 4]
        if status.startswith(b"HTTP/1.1 101"):
            self.opened.set_result(None)
        else:
            self.error = f"handshake refused: {status.decode(errors='replace')}"
            self.opened.set_exception(ConnectionError(self.error))
            assert self.transport is not None
            self.transport.abort()

    def _read_frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                (length,), start = struct.unpack_from("!H", buffer, 2), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                (length,), start = struct.unpack_from("!Q", buffer, 2), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            self._frame(opcode, payload)

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x1:
            self.on_text(self, payload)
        elif opcode == 0x9 and self.transport is not None:  # ping: answer, or be closed
            self.transport.write(_masked_frame(0xA, payload))
        elif opcode == 0x8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            self.error = f"closed by the server (code {code})"


def _handshake(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def _masked_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    size = len(payload)
    head = bytes([0x80 | opcode])
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


async def open_sockets(
    host: str, port: int, path: str, count: int, at_once: int = OPEN_AT_ONCE, timeout: float = 60
) -> tuple[list[WsSocket], list[str]]:
    """Open ``count`` sockets, ``at_once`` handshakes at a time: (the open ones, errors)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(at_once)

    async def one() -> WsSocket:
        async with gate:
            _, sock = await loop.create_connection(lambda: WsSocket(host, port, path), host, port)
            try:
                await asyncio.wait_for(asyncio.shield(sock.opened), timeout)
            except BaseException:
                if sock.transport is not None:
                    sock.transport.abort()
                raise
            return sock

    outcomes = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    sockets = [o for o in outcomes if isinstance(o, WsSocket)]
    errors = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    return sockets, errors


def close_all(sockets: Sequence[WsSocket]) -> None:
    """Drop every socket at once (RST): the server sees the disconnects."""
    for sock in sockets:
        if sock.transport is not None:
            sock.transport.abort()


class Fanout:
    """Broadcast rounds: one socket asks the server to send a text to every socket."""

    def __init__(self, sockets: Sequence[WsSocket]) -> None:
        self.sockets = list(sockets)
        self.expected = b""
        self.arrivals: dict[int, float] = {}
        self.done: asyncio.Event = asyncio.Event()
        for sock in self.sockets:
            sock.on_text = self._arrived

    def _arrived(self, sock: WsSocket, payload: bytes) -> None:
        if payload == self.expected and id(sock) not in self.arrivals:
            self.arrivals[id(sock)] = time.perf_counter()
            if len(self.arrivals) == len(self.sockets):
                self.done.set()

    async def round(self, prefix: str, number: int, timeout: float) -> list[float]:
        """Send ``prefix + number`` from the first socket; seconds until each socket got
        ``number``. Raises ``TimeoutError`` naming how many never did."""
        self.expected, self.arrivals, self.done = str(number).encode(), {}, asyncio.Event()
        sent = time.perf_counter()
        self.sockets[0].send_text(f"{prefix}{number}")
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except TimeoutError:
            missing = len(self.sockets) - len(self.arrivals)
            errors = {s.error for s in self.sockets if s.error}
            why = f"; socket errors: {sorted(errors)[:3]}" if errors else ""
            raise TimeoutError(
                f"{missing} of {len(self.sockets)} sockets got no broadcast in {timeout:.0f}s{why}"
            ) from None
        return [t - sent for t in self.arrivals.values()]
