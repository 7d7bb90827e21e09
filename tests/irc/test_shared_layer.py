"""Two IRC interface processes on one Redis layer, each on its own network: a send for
the other process's network is passed on to ``irc-client.send.<network>``, in order."""

from __future__ import annotations

from tests.irc.conftest import CHANNEL, bot_joined


def test_sends_for_another_processes_network_are_passed_on_in_order(
    make_ircd, irc_user, start_bot, gateways_process, redis_layer_url
):
    one, two = make_ircd(), make_ircd()
    alice = irc_user(one, "alice", [CHANNEL])
    bob = irc_user(two, "bob", ["#elsewhere"])

    def bot_on(server, network, channel):
        start_bot(
            None,
            *("--layer", redis_layer_url, "--irc-flood-rate", "0"),
            *("--irc-server", server.address, "--irc-network", network),
            *("--irc-nick", "bot", "--irc-channel", channel),
        )

    bot_on(one, "one", CHANNEL)
    gateways_process("worker", "irc_app:routes", "--layer", redis_layer_url)
    bot_joined(alice)
    mark = alice.mark()
    alice.say(CHANNEL, "!burst 20 two #elsewhere")
    alice.say(CHANNEL, f"!send one {CHANNEL} passed")
    # The events of one network are consumed in order, and so are the sends: once the
    # bot says "passed", its process has taken all 20 sends for network two (it is the
    # only one reading irc-client.send) and passes them on to irc-client.send.two.
    alice.wait_for(rf" PRIVMSG {CHANNEL} :passed$", start=mark)
    bot_on(two, "two", "#elsewhere")
    lines = bob.wait_messages("bot", 20)
    assert [x.text for x in lines] == [f"{i:04d}" for i in range(20)]
