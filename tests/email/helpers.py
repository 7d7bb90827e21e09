"""Client helpers for the email tests: smtplib over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
from pathlib import Path
from typing import Any


def connect(port: int, **kwargs: Any) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=10, **kwargs)
    return client


def send_mail(port: int, raw: bytes | str, sender: str, to: list[str], **kwargs: Any) -> Any:
    """One complete smtplib conversation; returns sendmail's refused-recipients dict."""
    with connect(port) as client:
        return client.sendmail(sender, to, raw, **kwargs)


def auth_file(tmp_path: Path, line: str = "alice:s3cret") -> str:
    path = tmp_path / "smtp-users"
    path.write_text("# users\n" + line + "\n")
    return str(path)


class RawSession:
    """A bare SMTP conversation over asyncio streams, for bytes no client library sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> RawSession:
        session = cls(*await asyncio.open_connection("127.0.0.1", port))
        code, _ = await session.reply()
        assert code == 220
        return session

    async def reply(self) -> tuple[int, str]:
        """One (possibly multi-line) reply; (0, "") when the server closed the connection."""
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 10)
            if not line:
                return 0, ""
            lines.append(line.decode("latin-1").rstrip("\r\n"))
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(text[4:] for text in lines)

    async def send(self, data: bytes) -> tuple[int, str]:
        self.writer.write(data)
        return await self.reply()

    async def command(self, line: str) -> tuple[int, str]:
        return await self.send(line.encode() + b"\r\n")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
