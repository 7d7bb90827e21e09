"""A WebSocket client on a bare socket, for what a well-behaved client never does:
malformed handshakes, invalid frames, staying silent. Frames are built and parsed by
the ``websockets`` package's sans-I/O layer; only the bytes' delivery is by hand.
:class:`Transport` and :func:`frames_sent` do the same for a protocol in-process."""

from __future__ import annotations

import asyncio
import base64
import os

from twisted.internet.testing import StringTransport
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

GOOD_KEY = base64.b64encode(os.urandom(16)).decode()


def request(path: str, host: str, headers: dict[str, str] | None = None) -> bytes:
    fields = {
        "Host": host,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": GOOD_KEY,
        "Sec-WebSocket-Version": "13",
        **(headers or {}),
    }
    lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in fields.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class RawSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.frames = StreamReader()

    @classmethod
    async def open(cls, host: str, port: int) -> RawSocket:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def handshake(self, raw: bytes) -> bytes:
        """Send a handshake request; the response head (status line and headers)."""
        self.writer.write(raw)
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        return head

    async def send_frame(self, opcode: Opcode, payload: bytes) -> None:
        self.writer.write(Frame(opcode, payload).serialize(mask=True, extensions=[]))
        await self.writer.drain()

    async def read_frame(self, timeout: float = 10) -> Frame | None:
        """The next frame from the server, or None at the end of the stream."""
        parser = Frame.parse(self.frames.read_exact, mask=False, max_size=None)
        while True:
            try:
                next(parser)
            except StopIteration as done:
                frame: Frame = done.value
                return frame
            except EOFError:
                return None
            try:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
            except ConnectionResetError:
                data = b""  # the server aborted the connection: the end, too
            if data:
                self.frames.feed_data(data)
            else:
                self.frames.feed_eof()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


class Transport(StringTransport):
    """A StringTransport that, as TCP transports do, lets autobahn unregister a producer
    it never registered (it does so whenever it drops a connection); ``wrote`` is set by
    every write."""

    def __init__(self) -> None:
        super().__init__()
        self.wrote = asyncio.Event()

    def write(self, data: bytes) -> None:
        super().write(data)
        self.wrote.set()

    def unregisterProducer(self) -> None:
        self.producer = None


def frames_sent(transport: StringTransport) -> list[Frame]:
    """The frames a server protocol wrote after its handshake response."""
    reader = StreamReader()
    reader.feed_data(transport.value().partition(b"\r\n\r\n")[2])
    reader.feed_eof()
    found = []
    while True:
        parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
        try:
            next(parser)
        except StopIteration as done:
            found.append(done.value)
        except EOFError:
            return found
