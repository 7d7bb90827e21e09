"""Getting onto a network: server password, TLS, SASL PLAIN, NickServ, several networks
from the config file, and clear errors for bad settings. SASL and real NickServ run
against InspIRCd + Anope (``services_ircd``); the rest against ngircd."""

from __future__ import annotations

from tests.fixtures.ircd import IrcUser
from tests.irc.conftest import CHANNEL, bot_joined

ACCOUNT_CAPS = ["extended-join", "account-notify"]  # so JOINs and ACCOUNT name the account


def test_server_password(make_ircd, irc_user, start_bot):
    server = make_ircd(password="sekrit")
    alice = irc_user(server, "alice", [CHANNEL])
    start_bot(server, "--irc-password", "sekrit")
    bot_joined(alice)


def test_wrong_server_password_is_reported_and_retried(make_ircd, start_bot):
    server = make_ircd(password="sekrit")
    bot = start_bot(server, "--irc-password", "wrong")
    bot.wait_for(r"server says ERROR .*(?i:password)")
    bot.wait_for(r"reconnecting in")
    assert "joined #test" not in bot.output


def test_tls_with_a_verified_certificate(make_ircd, irc_user, start_bot, tls_files):
    server = make_ircd(tls=tls_files)
    alice = irc_user(server, "alice", [CHANNEL])
    bot = start_bot(
        None,
        *("--irc-server", server.tls_address, "--irc-nick", "bot", "--irc-channel", CHANNEL),
        *("--irc-tls", "--irc-tls-ca", str(tls_files.cert)),
    )
    bot_joined(alice)
    bot.wait_for(rf"connected to ircs://{server.tls_address} as bot")


def test_tls_certificate_is_verified_by_default(make_ircd, start_bot, tls_files):
    server = make_ircd(tls=tls_files)
    bot = start_bot(None, "--irc-server", server.tls_address, "--irc-tls")
    bot.wait_for(r"cannot connect to ircs://.*certificate verify failed")
    assert "connected to" not in bot.output


def test_nickserv_identify_after_registration(ircd, irc_user, start_bot):
    services = irc_user(ircd, "NickServ")  # plays the services bot on a real server
    alice = irc_user(ircd, "alice", [CHANNEL])
    start_bot(ircd, "--irc-nickserv-password", "hunter2", "--irc-nickserv-account", "botacct")
    line = services.wait_for(r" PRIVMSG NickServ :IDENTIFY ")
    assert (line.nick, line.text) == ("bot", "IDENTIFY botacct hunter2")
    bot_joined(alice)


def test_sasl_on_a_server_without_it_fails_clearly_and_goes_on(ircd, irc_user, start_bot):
    alice = irc_user(ircd, "alice", [CHANNEL])
    bot = start_bot(ircd, "--irc-sasl-username", "acct", "--irc-sasl-password", "pw")
    bot.wait_for(r"SASL login failed: server does not support sasl")
    bot_joined(alice)


def test_sasl_plain_login_on_a_real_server(services_ircd, irc_user, start_bot):
    services_ircd.register("acct", "sesame42")
    alice = irc_user(services_ircd, "alice", [CHANNEL], caps=ACCOUNT_CAPS)
    bot = start_bot(services_ircd, "--irc-sasl-username", "acct", "--irc-sasl-password", "sesame42")
    # extended-join: the server itself says which account the bot is logged in as
    alice.wait_for(rf"^:bot!\S+ JOIN {CHANNEL} acct :")
    bot.wait_for(r"SASL login as acct succeeded")
    # CAP LS went first, so the server held registration until SASL was done
    assert bot.output.index("SASL login as acct") < bot.output.index("connected to irc://")


def test_sasl_wrong_password_fails_clearly_and_goes_on(services_ircd, irc_user, start_bot):
    services_ircd.register("acct", "sesame42")
    alice = irc_user(services_ircd, "alice", [CHANNEL], caps=ACCOUNT_CAPS)
    bot = start_bot(services_ircd, "--irc-sasl-username", "acct", "--irc-sasl-password", "wrong")
    bot.wait_for(r"SASL login failed: .*(?i:authentication failed)")
    alice.wait_for(rf"^:bot!\S+ JOIN {CHANNEL} \* :")  # joined, logged in as nobody
    assert "SASL login as" not in bot.output


def test_nickserv_identify_on_real_services(services_ircd, irc_user, start_bot):
    services_ircd.register("botacct", "hunter22")
    alice = irc_user(services_ircd, "alice", [CHANNEL], caps=ACCOUNT_CAPS)
    start_bot(
        services_ircd, "--irc-nickserv-password", "hunter22", "--irc-nickserv-account", "botacct"
    )
    # NickServ logs the bot in before its JOIN (extended-join names the account) or
    # after it (account-notify)
    alice.wait_for(rf"^:bot!\S+ (JOIN {CHANNEL} botacct :|ACCOUNT :?botacct$)")


def test_several_networks_from_the_config_file(make_ircd, irc_user, start_bot, tmp_path):
    one, two = make_ircd(), make_ircd()
    alice = irc_user(one, "alice", [CHANNEL])
    bob = irc_user(two, "bob", ["#elsewhere"])
    config = tmp_path / "gateways.toml"
    config.write_text(
        f"""
[irc]
nick = "bot"
reconnect_delay = 0.2

[[irc.networks]]
name = "one"
server = "{one.address}"
channel = ["{CHANNEL}"]

[[irc.networks]]
name = "two"
server = "{two.address}"
nick = "relay"
channel = ["#elsewhere"]
flood_rate = 0
"""
    )
    start_bot(None, "--config", str(config))
    bot_joined(alice)
    bot_joined(bob, nick="relay", channel="#elsewhere")
    alice.say(CHANNEL, "!send two #elsewhere hello from one")
    assert bob.wait_for(r"PRIVMSG #elsewhere :hello from one$").nick == "relay"
    bob.say("#elsewhere", "!echo on two")
    assert bob.wait_for(r"PRIVMSG #elsewhere :echo on two$").nick == "relay"


def test_no_network_is_a_clear_error(gateways_process):
    bot = gateways_process("serve", "irc_app:routes", "--plugin", "irc", ready=None)
    assert bot.wait() == 2
    assert "--plugin irc needs a network: give --irc-server HOST:PORT" in bot.output


def test_bad_settings_are_clear_errors(gateways_process, tmp_path):
    bot = gateways_process(
        "serve", "irc_app:routes", "--plugin", "irc", "--irc-server", "nohost", ready=None
    )
    assert bot.wait() == 2
    assert "--irc-server: expected HOST:PORT, got 'nohost'" in bot.output
    config = tmp_path / "bad.toml"
    config.write_text('[[irc.networks]]\nserver = "127.0.0.1:6667"\nchanels = ["#x"]\n')
    bot = gateways_process(
        "serve", "irc_app:routes", "--plugin", "irc", "--config", str(config), ready=None
    )
    assert bot.wait() == 2
    assert "[[irc.networks]] #1: unknown key 'chanels'" in bot.output


def test_irc_user_helper_sees_its_own_registration(ircd):
    user = IrcUser(ircd.address, "helper")
    try:
        user.join("#helper")
        assert user.wait_for(r" 353 helper = #helper :@helper").command == "353"
    finally:
        user.quit()
