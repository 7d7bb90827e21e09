"""Stopping the bot: queued lines go out within the grace period, then it QUITs; past
the grace period what is left is dropped (with a warning) and it QUITs all the same."""

from __future__ import annotations

from tests.irc.conftest import CHANNEL, bot_joined

QUIT = r"^:bot!\S+ QUIT"


def test_stop_sends_the_queued_lines_then_quits(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd, "--irc-flood-rate", "5", "--irc-flood-burst", "1")
    bot_joined(alice)
    mark = alice.mark()
    alice.say(CHANNEL, "!repeat 8 10")
    alice.wait_messages("bot", 1, start=mark)  # the rest wait in the paced queue
    assert bot.stop() == 0
    quit_line = alice.wait_for(QUIT, start=mark)
    lines = alice.messages_from("bot", mark)
    assert [x.text[:4] for x in lines] == [f"{i:04d}" for i in range(8)]
    assert all(x.at <= quit_line.at for x in lines)
    assert "not sent" not in bot.output


def test_past_the_grace_period_queued_lines_are_dropped_and_the_bot_quits(
    ircd, irc_user, start_bot
):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd, "--irc-flood-rate", "1", "--irc-flood-burst", "1", "--grace", "0.5")
    bot_joined(alice)
    mark = alice.mark()
    alice.say(CHANNEL, "!repeat 10 10")
    alice.wait_messages("bot", 1, start=mark)
    assert bot.stop(timeout=10) == 0
    alice.wait_for(QUIT, start=mark)
    assert len(alice.messages_from("bot", mark)) < 10
    assert "irc[testnet]: " in bot.output and "queued line(s) not sent" in bot.output
