"""Under overload an SMTP session holds at most one mail: aiosmtpd reads the next command
only once the handler answered the last, so a client that pipelines several whole
transactions (aiosmtpd 1.4.6 does not offer PIPELINING; an eager client sends them at
once all the same) has them handed to the layer one by one, each getting its own answer,
and a full channel refuses (451) only the transaction that met it."""

from __future__ import annotations

import asyncio
from typing import Any

from gateways.layers import get_layer
from tests.core.test_interface import wait_until
from tests.email.helpers import RawSession, send_mail

RECEIVE = "email.receive"


def transaction(subject: str) -> bytes:
    return (
        b"MAIL FROM:<bob@remote.test>\r\n"
        b"RCPT TO:<alice@example.com>\r\n"
        b"DATA\r\n"
        b"From: bob@remote.test\r\nTo: alice@example.com\r\n"
        b"Subject: " + subject.encode() + b"\r\n\r\nhello\r\n.\r\n"
    )


class Gate:
    """Holds each hand-over of a mail to the layer until the test lets one through."""

    def __init__(self, layer: Any) -> None:
        self.send = layer.send
        self.entered: list[str] = []
        self.active = self.most = 0
        self.tokens: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, channel: str, message: Any) -> None:
        if channel == RECEIVE and message["subject"].startswith("pipelined"):
            self.entered.append(message["subject"])
            self.active += 1
            self.most = max(self.most, self.active)
            try:
                await self.tokens.get()
            finally:
                self.active -= 1
        await self.send(channel, message)


async def test_pipelined_mail_is_handed_over_one_at_a_time(start_email, monkeypatch):
    layer = get_layer("memory://", channel_capacity={RECEIVE: 2})
    interface = await start_email(layer=layer)
    gate = Gate(layer)
    monkeypatch.setattr(layer, "send", gate)
    session = await RawSession.open(interface.port)
    assert (await session.command("EHLO client.test"))[0] == 250
    subjects = [f"pipelined {i}" for i in range(4)]
    session.writer.write(b"".join(map(transaction, subjects)) + b"QUIT\r\n")

    async def answers_to(subject: str) -> list[int]:
        """MAIL, RCPT, DATA and the end of data of one transaction, once let through."""
        await wait_until(lambda: gate.entered[-1:] == [subject])
        await asyncio.sleep(0.2)  # long enough for a server that read on to show it
        assert interface.handler.in_flight == 1 and gate.entered[-1] == subject
        gate.tokens.put_nowait(None)
        return [(await session.reply())[0] for _ in range(4)]

    assert await answers_to("pipelined 0") == [250, 250, 354, 250]
    assert await answers_to("pipelined 1") == [250, 250, 354, 250]  # the channel is full
    assert await answers_to("pipelined 2") == [250, 250, 354, 451]  # this one only
    await layer.receive([RECEIVE], timeout=1)  # a worker takes one: room again
    assert await answers_to("pipelined 3") == [250, 250, 354, 250]
    assert (await session.reply())[0] == 221
    await session.close()
    assert gate.most == 1

    # Another sender meets the full channel (451, it retries) and gets in once there is room.
    async def other() -> int:
        raw = b"Subject: other\r\n\r\nhi\r\n"
        try:
            await asyncio.to_thread(send_mail, interface.port, raw, "c@r.test", ["a@example.com"])
        except Exception as exc:  # smtplib.SMTPDataError
            return int(getattr(exc, "smtp_code", 0))
        return 250

    assert await other() == 451
    assert [(await layer.receive([RECEIVE], timeout=1))[1]["subject"] for _ in range(2)] == [
        "pipelined 1",
        "pipelined 3",
    ]
    assert await other() == 250
    _, last = await layer.receive([RECEIVE], timeout=1)
    assert last["subject"] == "other"
    await layer.close()
