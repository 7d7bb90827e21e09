"""Getting onto a network: server password, TLS, SASL PLAIN, NickServ, several networks
from the config file, and clear errors for bad settings."""

from __future__ import annotations

import base64
import socketserver
import threading

from tests.fixtures.ircd import IrcUser
from tests.irc.conftest import CHANNEL, bot_joined


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


class SaslServer(socketserver.StreamRequestHandler):
    """A scripted IRC server that speaks SASL PLAIN (ngircd has no SASL; services
    would be needed): records what the client sends, over a real socket."""

    received: list[str]

    def send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        for raw in self.rfile:
            line = raw.decode().rstrip("\r\n")
            self.server.received.append(line)  # type: ignore[attr-defined]
            if line == "CAP LS":
                self.send(":sasl.test CAP * LS :multi-prefix sasl")
            elif line.startswith("CAP REQ"):
                self.send(":sasl.test CAP * ACK :sasl")
            elif line == "AUTHENTICATE PLAIN":
                self.send("AUTHENTICATE +")
            elif line.startswith("AUTHENTICATE "):
                self.send(":sasl.test 900 bot bot!bot@host acct :You are now logged in")
                self.send(":sasl.test 903 bot :SASL authentication successful")
            elif line == "CAP END":
                self.send(":sasl.test 001 bot :Welcome bot!bot@host")
            elif line.startswith("QUIT"):
                return


def test_sasl_plain_exchange(start_bot):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SaslServer)
    server.daemon_threads = True
    server.received = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        address = f"127.0.0.1:{server.server_address[1]}"
        bot = start_bot(
            None,
            *("--irc-server", address, "--irc-nick", "bot"),
            *("--irc-sasl-username", "acct", "--irc-sasl-password", "pw"),
        )
        bot.wait_for(r"SASL login as acct succeeded")
        bot.wait_for(r"connected to irc://")
        lines = server.received  # type: ignore[attr-defined]
        assert lines[0] == "CAP LS"  # before NICK/USER, so registration waits for SASL
        assert lines.index("CAP LS") < lines.index("NICK bot") < lines.index("CAP END")
        token = next(x for x in lines if x.startswith("AUTHENTICATE ") and "PLAIN" not in x)
        assert base64.b64decode(token.split(" ")[1]) == b"\0acct\0pw"
        assert not any(x.startswith("PASS") for x in lines)
    finally:
        server.shutdown()
        server.server_close()


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
