"""Fuzzing the SMTP server: hypothesis writes whole client sessions (verbs, arguments,
DATA contents, all pipelined in one write, then the client's end of the stream); the
server is the real email interface on a loopback port.

After every example a valid mail sent with smtplib must still get 250 and land on
``email.receive``, and the log must hold no traceback. One server serves all the
examples: a session that broke it would break every example after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

import pytest
from gateways_email.interface import EmailInterface
from hypothesis import given, settings
from hypothesis import strategies as st

from gateways.host import InterfaceHost
from gateways.layers import BaseChannelLayer, get_layer
from gateways.plugins import get_plugin_host
from tests.email.conftest import email_settings
from tests.email.helpers import send_mail
from tests.email.test_parse import nested_mime

#: As the loaded profile says (tests/fuzz/conftest.py: FUZZ_EXAMPLES).
EXAMPLES = settings().max_examples
pytestmark = pytest.mark.timeout(max(60, EXAMPLES // 3))
#: Longest a session may take to end after the client closed its side.
SESSION_END = 10.0

VERBS = [
    *(b"EHLO", b"HELO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"RSET", b"NOOP", b"VRFY"),
    *(b"EXPN", b"HELP", b"STARTTLS", b"AUTH", b"AUTH PLAIN", b"AUTH LOGIN", b"BDAT", b"QUIT"),
    *(b"mail from:", b"rcpt to:", b"ehlo", b"XCLIENT", b"PROXY"),
]
ADDRESSES = [
    b"<alice@example.com>",
    b"<bob@remote.test>",
    b"<someone@elsewhere.test>",
    b"<>",
    b"<\xc3\xa9l\xc3\xa8ve@example.com> SMTPUTF8",
    b"<alice@example.com> SIZE=99999999999",
    b"<alice@example.com> BODY=8BITMIME",
    b"alice@example.com",
    b"<\x1b[31m@example.com>",
    b"<@relay.test:alice@example.com>",
]

noise = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b""))
arguments = st.one_of(st.sampled_from(ADDRESSES), noise, st.just(b"x" * 1100))
commands = st.tuples(st.sampled_from(VERBS), arguments).map(lambda t: t[0] + b" " + t[1])
headers = st.lists(
    st.tuples(st.sampled_from([b"Subject", b"From", b"Content-Type", b"X-" + b"a" * 80]), noise),
    max_size=4,
).map(lambda hs: b"".join(name + b": " + value + b"\r\n" for name, value in hs))
bodies = st.one_of(
    noise,
    st.binary(max_size=300),
    st.integers(0, 60).map(lambda depth: nested_mime(depth).partition(b"\r\n\r\n")[2]),
    st.sampled_from([b"..dot\r\n", b"bare\nLF", b"a\r.\r\nb", b"\r\n.\r\n"]),
)
mails = st.tuples(headers, bodies).map(lambda t: b"DATA\r\n" + t[0] + b"\r\n" + t[1] + b"\r\n.")
lines = st.one_of(commands, mails, noise)
sessions = st.lists(st.tuples(lines, st.sampled_from([b"\r\n", b"\n"])), max_size=10)


class Probe:
    """Sends a valid mail with smtplib and finds it on the layer."""

    def __init__(self, port: int, layer: BaseChannelLayer) -> None:
        self.port, self.layer = port, layer
        self.numbers = itertools.count(1)

    async def __call__(self) -> None:
        message_id = f"<probe{next(self.numbers)}@remote.test>"
        raw = f"From: bob@remote.test\r\nMessage-ID: {message_id}\r\nSubject: probe\r\n\r\nok\r\n"
        refused = await asyncio.to_thread(
            send_mail, self.port, raw.encode(), "bob@remote.test", ["alice@example.com"]
        )
        assert refused == {}  # 250 for the recipient, and for the mail
        async with asyncio.timeout(10):
            while True:  # mail the example itself got through comes first
                _, message = await self.layer.receive(["email.receive"])
                if message["message_id"] == message_id:
                    return


async def one_session(port: int, data: bytes) -> None:
    """Write ``data`` at once, close our side, read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        writer.write_eof()
        async with asyncio.timeout(SESSION_END):
            while await reader.read(65536):
                pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def start_server(stack: contextlib.AsyncExitStack) -> tuple[int, BaseChannelLayer]:
    layer = get_layer("memory://")
    stack.push_async_callback(layer.close)
    settings = email_settings(smtp_max_recipients=5)
    host: Any = InterfaceHost(settings, get_plugin_host(), layer, None, ["email"], 0)
    interface = EmailInterface(host)
    await interface.start()
    stack.push_async_callback(interface.drain, 1.0)
    assert interface.server is not None
    return interface.server.sockets[0].getsockname()[1], layer


def test_no_smtp_session_breaks_the_server(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with asyncio.Runner() as runner, contextlib.ExitStack() as closing:
        stack = contextlib.AsyncExitStack()
        closing.callback(lambda: runner.run(stack.aclose()))
        port, layer = runner.run(start_server(stack))
        probe = Probe(port, layer)
        runs: list[int] = []

        @given(session=sessions)
        def example(session: list[tuple[bytes, bytes]]) -> None:
            runs.append(1)
            mark = len(caplog.records)
            data = b"".join(line + end for line, end in session)
            runner.run(one_session(port, data))
            runner.run(probe())
            for record in caplog.records[mark:]:
                assert not record.exc_info and "Traceback" not in record.getMessage(), record

        example()
        assert len(runs) >= EXAMPLES // 2  # the examples did run (not all filtered out)
