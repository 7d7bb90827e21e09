"""The IRC client (``irc.client_aio``) on uvloop (``--loop uvloop``), against ngircd."""

from __future__ import annotations

from tests.irc.conftest import CHANNEL, bot_joined


def test_the_bot_answers_on_uvloop(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd, "--loop", "uvloop")
    assert bot.wait_for(r"event loop: (\w+)")[1] == "uvloop"
    bot_joined(alice)
    alice.say(CHANNEL, "!echo on uvloop")
    assert alice.wait_for(r"PRIVMSG #test :echo on uvloop$").nick == "bot"
    assert bot.stop() == 0
