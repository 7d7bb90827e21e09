"""Fuzzing the IRC interface from a malicious server: hypothesis writes what the server
sends (random bytes, tags, prefixes, commands, CTCP, NUL and lone CR, over-long lines);
the bot is the real IRC interface connected to it over loopback.

After every example a valid PRIVMSG must still reach a consumer on the same connection
(no reconnect), and the log must hold no traceback. One bot serves all the examples: a
line that broke it would break every example after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from gateways_irc.wire import MAX_LINE
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.irc.hostile import HostileBot, hostile_bot

#: As the loaded profile says (tests/fuzz/conftest.py: FUZZ_EXAMPLES).
EXAMPLES = settings().max_examples
pytestmark = pytest.mark.timeout(max(60, EXAMPLES // 5))

COMMANDS = [
    *(b"PRIVMSG", b"NOTICE", b"QUIT", b"JOIN", b"PART", b"KICK", b"NICK", b"TOPIC"),
    *(b"MODE", b"PING", b"PONG", b"ERROR", b"INVITE", b"CAP", b"AUTHENTICATE"),
    *(b"001", b"005", b"353", b"366", b"433", b"432", b"471", b"474", b"904", b"999"),
]
CTCP = [b"PING", b"VERSION", b"ACTION", b"DCC SEND", b"TIME", b""]

#: A word of a line: anything but a line feed and a space.
word = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"").replace(b" ", b""))
targets = st.one_of(st.sampled_from([b"#test", b"bot", b"#other", b"*", b""]), word)
prefixes = st.one_of(
    st.sampled_from([b"alice!alice@users.test", b"irc.hostile", b"bot!bot@gateways.test"]),
    st.tuples(word, word, word).map(lambda t: t[0] + b"!" + t[1] + b"@" + t[2]),
    word,
)
tags = st.lists(st.tuples(word, word), max_size=3).map(
    lambda kv: b";".join(k + b"=" + v for k, v in kv)
)
ctcp = st.tuples(st.sampled_from(CTCP), word, st.booleans()).map(
    lambda t: b"\x01" + t[0] + b" " + t[1] + (b"\x01" if t[2] else b"")
)
trailing = st.one_of(word, ctcp, st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")))


@st.composite
def irc_lines(draw: st.DrawFn) -> bytes:
    """One line as a server could send it, shaped or not."""
    parts = []
    if draw(st.booleans()):
        parts.append(b"@" + draw(tags))
    if draw(st.booleans()):
        parts.append(b":" + draw(prefixes))
    parts.append(draw(st.one_of(st.sampled_from(COMMANDS), word)))
    parts += draw(st.lists(targets, max_size=3))
    if draw(st.booleans()):
        parts.append(b":" + draw(trailing))
    return b" ".join(parts)


overlong = st.integers(MAX_LINE - 2, 3 * MAX_LINE).map(lambda n: b"x" * n)
lines = st.one_of(irc_lines(), st.binary(max_size=64), overlong)
reads = st.lists(st.tuples(lines, st.sampled_from([b"\r\n", b"\n", b"\r\r\n"])), max_size=8)


def tracebacks_since(caplog: pytest.LogCaptureFixture, mark: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records[mark:]
        if record.exc_info or "Traceback" in record.getMessage()
    ]


def test_no_server_line_breaks_the_bot(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with asyncio.Runner() as runner, contextlib.ExitStack() as closing:
        stack = contextlib.AsyncExitStack()
        closing.callback(lambda: runner.run(stack.aclose()))
        bot: HostileBot = runner.run(stack.enter_async_context(hostile_bot()))

        runs: list[int] = []

        @given(read=reads)
        def example(read: list[tuple[bytes, bytes]]) -> None:
            runs.append(1)
            mark = len(caplog.records)
            data = b"".join(line + end for line, end in read)
            runner.run(bot.server.send(data + b"\r\n"))
            runner.run(bot.probe(what=data))
            assert tracebacks_since(caplog, mark) == []

        example()
        assert len(runs) >= EXAMPLES // 2  # the examples did run (not all filtered out)
