"""The bot's manners against a real ngircd: pacing, splitting, no injection, a free
nick, keep-alive, reconnecting and rejoining by itself."""

from __future__ import annotations

import itertools

from tests.irc.conftest import CHANNEL, bot_joined


def test_flood_control_paces_lines_at_the_configured_rate(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    start_bot(ircd, "--irc-flood-rate", "5", "--irc-flood-burst", "3")
    bot_joined(alice)
    mark = alice.mark()
    alice.say(CHANNEL, "!repeat 13 20")
    lines = alice.wait_messages("bot", 13, start=mark)
    assert [x.text[:4] for x in lines] == [f"{i:04d}" for i in range(13)]  # in order
    # Past the burst of 3, ten more lines at 5/s cannot take less than ~2 s.
    paced = lines[2:]
    span = paced[-1].at - paced[0].at
    assert span >= 10 / 5 * 0.9, f"10 lines in {span:.2f}s: faster than 5 lines/s"
    gaps = [b.at - a.at for a, b in itertools.pairwise(paced)]
    assert min(gaps) >= 0.2 * 0.5, f"gaps {gaps}"


def test_flood_control_off_sends_everything(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    start_bot(ircd, "--irc-flood-rate", "0")
    bot_joined(alice)
    mark = alice.mark()
    alice.say(CHANNEL, "!repeat 30 10")
    lines = alice.wait_messages("bot", 30, start=mark)
    assert [x.text[:4] for x in lines] == [f"{i:04d}" for i in range(30)]


def test_long_body_is_split_on_utf8_boundaries_to_fit_512_bytes(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    start_bot(ircd, "--irc-flood-rate", "0")
    bot_joined(alice)
    mark = alice.mark()
    alice.say(CHANNEL, "!long 2000")
    unit = "abc é 日本 🎉 "
    expected = (unit * 200).encode()[:2000].decode("utf-8", errors="ignore").strip()
    pieces: list[str] = []

    def complete(_line) -> bool:
        pieces[:] = [x.text for x in alice.messages_from("bot", mark)]
        return "".join(pieces).replace(" ", "") == expected.replace(" ", "")

    alice.wait_until(complete, 15.0, mark, "the whole long body")
    assert len(pieces) >= 4
    for line in alice.messages_from("bot", mark):
        assert len(line.raw.encode()) + 2 <= 512  # as relayed, prefix and CR LF included
        assert "\ufffd" not in line.text  # no character was cut in two


def test_line_breaks_nul_and_ctcp_marks_cannot_inject_commands(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd)
    bot_joined(alice)
    mark = alice.mark()
    alice.say(CHANNEL, "!inject")
    line = alice.wait_for(r" PRIVMSG #test :first", start=mark)
    assert line.text == "first QUIT :injected secondthird"
    alice.say(CHANNEL, "!echo still connected")
    alice.wait_for(r"PRIVMSG #test :echo still connected$", start=mark)
    assert not any(x.command == "QUIT" for x in alice.lines[mark:])
    assert "disconnected" not in bot.output


def test_nick_in_use_falls_back_to_an_alternate(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    irc_user(ircd, "bot")  # someone already holds the bot's nick
    bot = start_bot(ircd, "--irc-alt-nick", "bot2")
    bot_joined(alice, nick="bot2")
    bot.wait_for(r"nick bot refused \(nicknameinuse\); trying bot2")
    alice.say(CHANNEL, "!echo who are you")
    assert alice.wait_for(r"PRIVMSG #test :echo who are you$").nick == "bot2"


def test_nick_fallback_without_alternates_appends_underscore(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    irc_user(ircd, "bot")
    start_bot(ircd)
    bot_joined(alice, nick="bot_")


def test_server_restart_the_bot_reconnects_and_rejoins(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL, "#second"])
    bot = start_bot(ircd, "--irc-channel", "#second")
    bot_joined(alice, channel="#second")
    ircd.restart()
    bot.wait_for(r"irc\[testnet\]: disconnected from")
    seen = len(bot.lines)
    bot.wait_for(r"irc\[testnet\]: connected to irc://", start=seen)
    bot.wait_for(r"joined #test", start=seen)
    bot.wait_for(r"joined #second", start=seen)
    assert "\n".join(bot.lines[seen:]).count("joined #") == 2  # once each
    bot.wait_for(r"DISCONNECT testnet")
    bot.wait_for(r"CONNECT testnet", start=seen)
    alice = irc_user(ircd, "alice", [CHANNEL, "#second"])
    alice.say("#second", "!echo we are back")
    assert alice.wait_for(r"PRIVMSG #second :echo we are back$").nick == "bot"


def test_server_down_at_start_is_retried_with_backoff(ircd, irc_user, start_bot):
    ircd.stop()
    bot = start_bot(ircd)
    bot.wait_for(rf"cannot connect to irc://{ircd.address}: \[Errno 111\]")
    bot.wait_for(r"reconnecting in 0.2s")
    bot.wait_for(r"reconnecting in 0.4s")  # doubled after each failed attempt
    ircd.start()
    bot.wait_for(r"joined #test", 20.0)


def test_dead_link_is_found_by_ping_and_left(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd, "--irc-ping-interval", "0.2", "--irc-ping-timeout", "1")
    bot_joined(alice)
    ircd.freeze()
    bot.wait_for(r"no PONG within 1.0s \(lag too high\); reconnecting")
    seen = len(bot.lines)
    ircd.thaw()
    bot.wait_for(r"joined #test", 20.0, start=seen)


def test_kicked_bot_rejoins_when_asked_to(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])  # first in: channel operator
    bot = start_bot(ircd, "--irc-rejoin-on-kick", "--irc-rejoin-delay", "0.1")
    bot_joined(alice)
    mark = alice.mark()
    alice.send(f"KICK {CHANNEL} bot :behave")
    bot_joined(alice, start=mark)
    bot.wait_for(r"kicked from #test; rejoining in 0.1s")


def test_kicked_bot_stays_out_by_default(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd)
    bot_joined(alice)
    alice.send(f"KICK {CHANNEL} bot :behave")
    bot.wait_for(r"kicked from #test by alice")
    ircd.restart()  # after a reconnect it does not come back either
    seen = len(bot.lines)
    bot.wait_for(r"connected to irc://", 20.0, start=seen)
    alice = irc_user(ircd, "alice", [CHANNEL])
    alice.say("bot", "are you there")
    alice.wait_for(r"PRIVMSG alice :private are you there$")
    assert "joined #test" not in "\n".join(bot.lines[seen:])
