"""A malicious IRC server against the bot: malformed lines, an endless line, a CTCP flood.

The server is a peer the test controls (``tests/irc/hostile.py``); the bot is the real
IRC interface. After every attack a valid PRIVMSG still reaches ``irc-client.receive``
on the same connection (no reconnect), and the log holds no traceback.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

from gateways_irc.client import CTCP_QUEUE_MAX, CTCP_RATE
from gateways_irc.wire import MAX_LINE

from tests.irc.hostile import ALICE, CHANNEL, HostileServer, hostile_bot, tracebacks

#: Lines the ``irc`` library's parser or the bot's handlers once raised on (the first
#: eight dropped the link), and more of their kind: missing parameters, no source,
#: empty or broken tags and prefixes, stray CTCP marks, NUL, lone CR, escape sequences.
MALFORMED = [
    ":a!a@h QUIT",
    "PING",
    ":a!a@h PRIVMSG",
    ":a!a@h PRIVMSG #test",
    " ",
    ":a!a@h 001",
    ":a!a@h NOTICE",
    ":irc.hostile 001",
    ":a!a@h JOIN",
    "JOIN #test",
    "PART #test",
    "KICK #test bot",
    ":a!a@h KICK #test",
    ":a!a@h NICK",
    "@ PRIVMSG #test :x",
    "@a=\\ :a!a@h PRIVMSG #test :x",
    "@+x;y=;=z :a PRIVMSG #test x",
    ":a!a@h PRIVMSG #test :\x01",
    ":a!a@h PRIVMSG #test :\x01\x01",
    ":a!a@h PRIVMSG #test :\x01ACTION",
    ":a!a@h PRIVMSG bot :\x01PING",
    ":a!a@h PRIVMSG bot :\x01VERSION\x01",
    ": PRIVMSG #test :x",
    ":",
    "@",
    ":a!a@h 005",
    ":irc.hostile 005 bot A=B=C = PREFIX=(ov CHANMODES= PREFIX= MAXLIST=b CHANLIMIT=#",
    ":a!a@h MODE",
    ":a!a@h TOPIC",
    ":a!a@h PART",
    ":a!a@h PONG",
    "ERROR",
    ":a!a@h INVITE",
    ":irc.hostile 433",
    ":irc.hostile 432",
    ":irc.hostile 353",
    ":irc.hostile 471",
    ":irc.hostile CAP",
    ":irc.hostile CAP * LS",
    "AUTHENTICATE",
    ":irc.hostile 904",
    "\x00",
    ":a!a@h PRIVMSG #test :\x00",
    ":a\rb!c@d PRIVMSG bot :\x01PING x\x01",
    ":a!a@h PRIVMSG #test :lone\rCR",
    "\x1b[31m:a!a@h PRIVMSG #test :\x1b]0;title\x07",
    ":\xff\xfe!x@y PRIVMSG #test :\xff",
    ":a!a@h KICK",
    ":a!a@h PRIVMSG #test :\x01DCC SEND x 1 2 3\x01",
]


async def test_every_malformed_line_is_skipped_and_the_link_stays_up(caplog):
    caplog.set_level(logging.INFO)
    async with hostile_bot() as bot:
        for line in MALFORMED:
            await bot.server.send(line.encode("latin-1") + b"\r\n")
            await bot.probe(what=line)  # delivered, on the first connection still
        assert bot.client.ready.is_set()
    assert tracebacks(caplog) == []
    skipped = [r.getMessage() for r in caplog.records if "skipped a line" in r.getMessage()]
    # Rate-limited: the first one is written, the rest of the minute is only counted.
    assert len(skipped) == 1, skipped
    assert "PING" in skipped[0]  # the first: a QUIT without reason is no longer one
    for record in caplog.records:
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", record.getMessage()), record


async def test_a_bad_line_does_not_lose_the_rest_of_the_read():
    async with hostile_bot() as bot:
        lines = [f"{ALICE} PRIVMSG {CHANNEL} :before", *MALFORMED[:8]]
        lines += [f"{ALICE} PRIVMSG {CHANNEL} :after", ":a!a@h PRIVMSG"]
        lines += [f"{ALICE} PRIVMSG {CHANNEL} :last"]
        await bot.server.send("\r\n".join(lines).encode() + b"\r\n")  # one write, one read
        bodies = [(await bot.wait_event(type="message"))["body"] for _ in range(3)]
        assert bodies == ["before", "after", "last"]
        await bot.probe()


async def test_a_quit_without_a_reason_is_a_quit_event():
    async with hostile_bot() as bot:
        await bot.server.send(b":alice!alice@users.test QUIT\r\n")  # valid RFC 1459
        event = await bot.wait_event(type="quit")
        assert (event["user"], event["channel"], event["body"]) == ("alice", None, "")


async def test_an_endless_line_is_discarded_without_growing_the_buffer(caplog):
    """The attack: 44 MB without a newline grew the bot from 56 to 156 MB. Now the bot
    holds at most one line's worth of it, and the next line is read as usual."""
    caplog.set_level(logging.INFO)
    async with hostile_bot() as bot:
        chunk = b"A" * 65536
        held = 0
        for _ in range(256):  # 16 MiB, no line end
            await bot.server.send(chunk)
            held = max(held, len(bot.client.connection.buffer))
        await bot.server.send(b"\r\n")
        await bot.probe()
        assert held <= MAX_LINE
        # A complete over-long line in one read is dropped too; one just short is kept.
        tags = "@" + "t=" + "x" * (MAX_LINE - 600)
        await bot.server.send(b"B" * (MAX_LINE + 1) + b"\r\n")
        await bot.server.send(f"{tags} {ALICE} PRIVMSG {CHANNEL} :tagged\r\n".encode())
        assert (await bot.wait_event(type="message"))["body"] == "tagged"
        await bot.probe()
    discarded = [r.getMessage() for r in caplog.records if "discarded" in r.getMessage()]
    assert discarded and f"longer than {MAX_LINE} bytes" in discarded[0]
    assert len(discarded) == 1  # rate-limited
    assert tracebacks(caplog) == []


async def test_a_ctcp_flood_stays_small_and_never_crowds_out_consumer_replies(caplog):
    """The attack: 5,000 CTCP PINGs queued 4,994 answers (83 minutes at 1 line/s), and
    the consumers' replies were then dropped as "send queue full"."""
    caplog.set_level(logging.INFO)
    async with hostile_bot(irc_flood_rate=2.0, irc_flood_burst=1, irc_queue_max=10) as bot:
        pings = [f"{ALICE} PRIVMSG bot :\x01PING {i}\x01" for i in range(2500)]
        pings += [f":u{i}!u@h PRIVMSG bot :\x01PING {i}\x01" for i in range(2500)]
        await bot.server.send("\r\n".join(pings).encode() + b"\r\n")
        await bot.probe()  # every query was read before this
        client = bot.client
        assert len(client.ctcp) <= CTCP_QUEUE_MAX
        assert not client.pending
        # A consumer's reply: ten lines, the whole send queue, right after the flood.
        reply_channel = bot.events[-1]["reply_channel"]
        for i in range(10):
            await bot.layer.send(reply_channel, {"channel": CHANNEL, "body": f"reply {i}"})
        await bot.server.wait_received(rf"^PRIVMSG {CHANNEL} :reply 9$", timeout=20)
        replies = [line for line in bot.server.received if line.startswith("PRIVMSG")]
        assert replies == [f"PRIVMSG {CHANNEL} :reply {i}" for i in range(10)]
    assert not any("send queue full" in r.getMessage() for r in caplog.records)
    assert tracebacks(caplog) == []


async def test_ctcp_answers_are_rate_limited_even_without_flood_control():
    async with hostile_bot(irc_flood_rate=0.0) as bot:
        started = time.monotonic()
        pings = [f":u{i}!u@h PRIVMSG bot :\x01PING {i}\x01" for i in range(1000)]
        await bot.server.send("\r\n".join(pings).encode() + b"\r\n")
        await bot.probe()
        await bot.server.wait_received(rf"^NOTICE u{CTCP_QUEUE_MAX - 1} :\x01PING")
        answers = [line for line in bot.server.received if "\x01PING" in line]
        allowed = CTCP_QUEUE_MAX + CTCP_RATE * (time.monotonic() - started) + 1
        assert len(answers) <= allowed  # the burst, then a trickle: not a thousand


def peak_memory(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmHWM:\s+(\d+) kB$", status, re.MULTILINE)
    assert found is not None, status
    return int(found[1]) * 1024


async def test_serve_does_not_grow_on_a_line_without_end(gateways_process):
    """As reported: ``gateways serve --plugin irc`` fed 44 MB without a newline went from
    56 to 156 MB. Now its peak memory stays where it was, and it answers the next line."""
    server = HostileServer()
    port = await server.start()
    args = ["serve", "irc_app:routes", "--plugin", "irc", "--irc-server", f"127.0.0.1:{port}"]
    args += ["--irc-nick", "bot", "--irc-channel", CHANNEL, "--irc-flood-rate", "0"]
    bot = await asyncio.to_thread(gateways_process, *args)
    try:
        await server.wait_received(rf"^JOIN {CHANNEL}", timeout=20)
        before = peak_memory(bot.proc.pid)
        chunk = b"A" * (1 << 20)
        for _ in range(48):  # 48 MiB, no line end
            await server.send(chunk)
        await server.send(f"\r\n{ALICE} PRIVMSG {CHANNEL} :!echo still here\r\n".encode())
        await server.wait_received(rf"^PRIVMSG {CHANNEL} :echo still here$", timeout=20)
        grown = peak_memory(bot.proc.pid) - before
        assert grown < 16 * 1024 * 1024, f"peak memory grew by {grown / 1e6:.1f} MB"
        assert server.connections == 1
        assert "Traceback" not in bot.output
        assert "discarded 1 line(s) from the server longer than" in bot.output
    finally:
        await asyncio.to_thread(bot.close)
        await server.close()
