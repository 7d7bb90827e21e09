"""Chat events reach consumers as irc-client.receive with the right fields, and
replies, unsolicited sends and connect/disconnect events work end to end."""

from __future__ import annotations

import ast
import re

from tests.irc.conftest import CHANNEL, bot_joined


def events(process, kind: str, start: int = 0) -> list[dict]:
    """The irc-client.receive messages of ``kind`` the test app logged."""
    found = []
    for line in process.lines[start:]:
        match = re.search(r"EVENT (\[.*\])$", line)
        if match:
            event = dict(ast.literal_eval(match[1]))
            if event["type"] == kind:
                found.append(event)
    return found


def wait_event(process, kind: str, **fields) -> dict:
    """Block until the app logged an event of ``kind`` with those field values."""
    pattern = rf"EVENT .*\('type', '{kind}'\)"
    start = 0
    while True:
        process.wait_for(pattern, 15.0, start)
        for event in events(process, kind):
            if all(event.get(k) == v for k, v in fields.items()):
                return event
        start = len(process.lines)


def test_every_event_type_reaches_the_consumer(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bob = irc_user(ircd, "bob", [CHANNEL])
    bot = start_bot(ircd)
    bot_joined(alice)
    alice.say(CHANNEL, "hello everyone")
    message = wait_event(bot, "message", body="hello everyone")
    assert message == {
        "network": "testnet",
        "type": "message",
        "user": "alice",
        "user_host": "~alice@127.0.0.1",
        "channel": CHANNEL,
        "body": "hello everyone",
        "bot_nick": "bot",
    }
    alice.act(CHANNEL, "waves")
    assert wait_event(bot, "action", body="waves")["user"] == "alice"
    alice.notice(CHANNEL, "heads up")
    assert wait_event(bot, "notice", body="heads up")["channel"] == CHANNEL
    alice.send(f"TOPIC {CHANNEL} :new topic")
    assert wait_event(bot, "topic", body="new topic")["user"] == "alice"
    bob.send(f"PART {CHANNEL} :brb")
    assert wait_event(bot, "part", user="bob")["body"] == "brb"
    bob.join(CHANNEL)
    assert wait_event(bot, "join", user="bob")["channel"] == CHANNEL
    bob.send("NICK robert")
    nick = wait_event(bot, "nick", user="bob")
    assert (nick["body"], nick["channel"]) == ("robert", None)
    alice.send(f"KICK {CHANNEL} robert :out")
    kick = wait_event(bot, "kick", user="alice")
    assert (kick["target"], kick["body"], kick["channel"]) == ("robert", "out", CHANNEL)
    bob.nick = "robert"
    carol = irc_user(ircd, "carol", [CHANNEL])
    carol.quit("gone home")
    assert "gone home" in wait_event(bot, "quit", user="carol")["body"]  # ngircd quotes it


def test_private_message_names_the_bot_as_channel(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd)
    bot_joined(alice)
    mark = alice.mark()
    alice.say("bot", "psst")
    reply = alice.wait_for(r" PRIVMSG alice :private psst$", start=mark)
    assert reply.nick == "bot"
    assert not events(bot, "message")  # the private echo route took it, not the logger


def test_replies_as_message_action_and_notice(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    start_bot(ircd)
    bot_joined(alice)
    alice.say(CHANNEL, "!echo hi there")
    assert alice.wait_for(r"PRIVMSG #test :echo hi there$").nick == "bot"
    alice.say(CHANNEL, "!act dances")
    assert alice.wait_for(r"PRIVMSG #test :\x01ACTION dances\x01$").nick == "bot"
    alice.say(CHANNEL, "!notice careful")
    assert alice.wait_for(r"NOTICE #test :careful$").nick == "bot"


def test_unsolicited_send_reaches_the_channel(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL, "#other"])
    bot = start_bot(ircd, "--irc-channel", "#other")
    bot_joined(alice, channel="#other")
    alice.say(CHANNEL, "!send testnet #other from afar")
    line = alice.wait_for(r"PRIVMSG #other :from afar$")
    assert line.nick == "bot"
    alice.say(CHANNEL, "!send nowhere #other lost")
    bot.wait_for(r"irc-client.send for network 'nowhere', but this process is connected to")


def test_many_unsolicited_sends_go_out_in_order_without_delay(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    start_bot(ircd, "--irc-flood-rate", "0")
    bot_joined(alice)
    mark = alice.mark()
    alice.say(CHANNEL, f"!burst 30 testnet {CHANNEL}")
    # Each send is handled as soon as the one before it: 30 of them take well under the
    # receive loop's poll interval each (a one-by-one poll would need ~30 s).
    lines = alice.wait_messages("bot", 30, timeout=10.0, start=mark)
    assert [x.text for x in lines] == [f"{i:04d}" for i in range(30)]


def test_join_and_part_by_reply(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL, "#extra"])
    bot = start_bot(ircd)
    bot_joined(alice)
    alice.say(CHANNEL, "!join #extra")
    bot_joined(alice, channel="#extra")
    alice.say(CHANNEL, "!part #extra")
    alice.wait_for(r"^:bot!\S+ PART #extra :bye for now$")
    bot.wait_for(r"irc\[testnet\]: left #extra")


def test_connect_and_disconnect_events(ircd, start_bot):
    bot = start_bot(ircd)
    bot.wait_for(rf"CONNECT testnet {re.escape(ircd.address)} bot")
    assert bot.stop() == 0
    assert f"DISCONNECT testnet {ircd.address} bot" in bot.output


def test_bad_replies_are_refused_with_a_clear_error(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd)
    bot_joined(alice)
    alice.say(CHANNEL, "!bad")
    alice.wait_for(r"PRIVMSG #test :still here$")
    bot.wait_for(r"cannot send .*'#a,#b' has spaces, commas or control characters")
    bot.wait_for(r"cannot send .*'type' must be one of message, action, notice, join, part")
    assert not any("two targets" in x.raw or "loud" in x.raw for x in alice.lines)


def test_text_that_is_not_utf8_is_read_as_latin1(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd)
    bot_joined(alice)
    alice.send(b"PRIVMSG #test :caf\xe9 cr\xe8me")
    assert wait_event(bot, "message", user="alice")["body"] == "café crème"
    alice.say(CHANNEL, "!echo still fine")
    alice.wait_for(r"PRIVMSG #test :echo still fine$")
