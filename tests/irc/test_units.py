"""The plugin's pure parts: line building, splitting, the token bucket, event fields,
and the networks read from settings."""

from __future__ import annotations

import pytest
from gateways_irc.events import receive_fields
from gateways_irc.flood import TokenBucket
from gateways_irc.options import IrcOptions, networks
from gateways_irc.text import OutgoingError, clean, join_lines, lines_for, split_utf8

from gateways.config import ConfigError, resolve


def test_clean_removes_line_breaks_nul_and_ctcp_marks():
    assert clean("a\r\nPRIVMSG x :y\rb\nc\0d\x01e") == "a PRIVMSG x :y b cde"


@pytest.mark.parametrize("limit", [4, 5, 7, 10, 33])
def test_split_never_cuts_a_character_and_respects_the_limit(limit):
    text = "é日🎉a" * 20
    pieces = split_utf8(text, limit)
    assert "".join(pieces) == text
    assert all(len(p.encode()) <= limit for p in pieces)


def test_split_prefers_spaces():
    assert split_utf8("hello world again", 12) == ["hello world", "again"]


def test_lines_fit_512_bytes_with_the_relay_prefix():
    source = len(":bot!~bot@" + "h" * 63 + " ")
    lines = lines_for({"channel": "#c", "body": "日本" * 400}, source)
    assert len(lines) > 1
    assert all(source + len(x.encode()) + 2 <= 512 for x in lines)


def test_actions_and_notices_are_wrapped():
    assert lines_for({"channel": "#c", "type": "action", "body": "waves"}, 30) == [
        "PRIVMSG #c :\x01ACTION waves\x01"
    ]
    assert lines_for({"channel": "nick", "type": "notice", "body": "hi"}, 30) == ["NOTICE nick :hi"]
    assert lines_for({"channel": "#c", "type": "join", "body": "key"}, 30) == ["JOIN #c key"]
    assert lines_for({"channel": "#c", "type": "part"}, 30) == ["PART #c"]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"channel": "#a #b", "body": "x"}, "spaces, commas"),
        ({"channel": "#a,#b", "body": "x"}, "spaces, commas"),
        ({"channel": "", "body": "x"}, "non-empty str"),
        ({"body": "x"}, "non-empty str"),
        ({"channel": "#a", "body": "\r\n"}, "non-empty 'body'"),
        ({"channel": "#a", "body": 5}, "must be a str"),
        ({"channel": "#a", "type": "kick", "body": "x"}, "'type' must be one of"),
        ({"channel": "nick", "type": "join"}, "is not a channel"),
    ],
)
def test_bad_outgoing_messages_are_refused(message, error):
    with pytest.raises(OutgoingError, match=error):
        lines_for(message, 30)


def test_join_lines_put_keyed_channels_first_and_stay_short():
    assert join_lines(["#a", "#b key"]) == ["JOIN #b,#a key"]
    many = [f"#channel{i:03d}" for i in range(100)]
    lines = join_lines(many)
    assert len(lines) > 1
    assert all(len(x.encode()) <= 510 for x in lines)


def test_token_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: now[0])
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.try_take()
    assert not bucket.try_take()
    now[0] += 100
    assert sum(bucket.try_take() for _ in range(10)) == 3  # never more than the burst


def test_token_bucket_rate_zero_never_waits():
    bucket = TokenBucket(0, 1)
    assert all(bucket.try_take() for _ in range(1000))


class Event:
    def __init__(self, type, source, target, arguments=()):
        from irc.client import NickMask

        self.type, self.target, self.arguments = type, target, list(arguments)
        self.source = NickMask(source) if source else None


def test_event_fields():
    kick = receive_fields(Event("kick", "op!o@h", "#c", ["victim", "why"]))
    assert kick == {
        "type": "kick",
        "user": "op",
        "user_host": "o@h",
        "channel": "#c",
        "body": "why",
        "target": "victim",
    }
    nick = receive_fields(Event("nick", "old!o@h", "new"))
    assert (nick["body"], nick["channel"]) == ("new", None)
    assert receive_fields(Event("privnotice", "irc.server", "*", ["*** hello"])) is None
    assert receive_fields(Event("mode", "op!o@h", "#c", ["+o", "x"])) is None


def settings_from(tmp_path, text="", environ=None, **flags):
    path = tmp_path / "g.toml"
    path.write_text(text)
    return resolve(IrcOptions.declare(), flags, environ=environ or {}, config_path=path)


def test_server_is_host_and_port_with_ipv6_in_brackets(tmp_path):
    (found,) = networks(settings_from(tmp_path, irc_server="[::1]:6697", irc_network="v6"))
    assert (found.host, found.port, found.address, found.name) == ("::1", 6697, "[::1]:6697", "v6")
    with pytest.raises(ConfigError, match=r"--irc-server: write an IPv6 address in brackets"):
        settings_from(tmp_path, irc_server="::1:6697")


def test_defaults_come_from_the_declarations(tmp_path):
    (found,) = networks(settings_from(tmp_path, irc_server="h:6667"))
    assert (found.nick, found.username, found.flood_rate, found.queue_max) == (
        "gateways",
        "gateways",
        1.0,
        1000,
    )


def test_half_a_sasl_login_names_where_it_was_set(tmp_path):
    environ = {"GATEWAYS_IRC_SASL_USERNAME": "acct"}
    with pytest.raises(ConfigError, match=r"^GATEWAYS_IRC_SASL_USERNAME: SASL needs both"):
        networks(settings_from(tmp_path, environ=environ, irc_server="h:6667"))


def test_networks_inherit_settings_and_keep_their_own(tmp_path):
    found = networks(
        settings_from(
            tmp_path,
            '[irc]\nflood_rate = 2\n[[irc.networks]]\nname = "b"\nserver = "h2:7000"\n'
            'nick = "other"\nchannel = ["#x key"]\n',
            irc_server="h1:6667",
            irc_nick="bot",
        )
    )
    assert [(n.name, n.host, n.port, n.nick) for n in found] == [
        ("h1", "h1", 6667, "bot"),
        ("b", "h2", 7000, "other"),
    ]
    assert found[1].channel == ("#x key",)
    assert found[0].flood_rate == found[1].flood_rate == 2.0


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[[irc.networks]]\nnick = "x"\n', "no server"),
        ('[[irc.networks]]\nserver = "h:1"\ntls = "maybe"\n', "expected true or false"),
        ('[[irc.networks]]\nserver = "h:1"\n[[irc.networks]]\nserver = "h:2"\n', "two IRC"),
        ('[[irc.networks]]\nserver = "h:1"\nsasl_username = "a"\n', "SASL needs both"),
        ('[irc]\nnetworks = "h:1"\n', r"^config file: \[irc\] networks: must be an array of"),
        ('[[irc.networks]]\nserver = "h:1"\nnetworks = []\n', "unknown key 'networks'"),
    ],
)
def test_bad_network_tables_are_clear_errors(tmp_path, text, error):
    with pytest.raises(ConfigError, match=error):
        networks(settings_from(tmp_path, text))


def test_the_line_buffer_drops_overlong_lines_and_keeps_the_rest():
    from gateways_irc.wire import MAX_LINE, BoundedLineBuffer

    buffer = BoundedLineBuffer()
    buffer.feed(b"first\r\nsec")
    assert list(buffer) == ["first"]
    buffer.feed(b"ond\r\n" + b"x" * MAX_LINE)  # a line exactly at the limit is kept
    assert list(buffer) == ["second"]
    buffer.feed(b"\r")  # its CR and LF may come in two reads
    assert list(buffer) == []
    buffer.feed(b"\n" + b"y" * (MAX_LINE + 2))  # this one is too long, even unfinished
    assert list(buffer) == ["x" * MAX_LINE]
    assert (len(buffer), buffer.overlong) == (0, 1)
    for _ in range(100):  # the rest of it is dropped as it comes, up to its LF
        buffer.feed(b"y" * 65536)
    assert len(buffer) == 0
    buffer.feed(b"yyy\nthird\r\ncaf\xe9\r\n")
    assert list(buffer) == ["third", "café"]  # not UTF-8: read as Latin-1
    buffer.feed(b"z" * (MAX_LINE + 5) + b"\r\nfourth\r\n")  # whole, in one read
    assert list(buffer) == ["fourth"]
    assert buffer.overlong == 2
