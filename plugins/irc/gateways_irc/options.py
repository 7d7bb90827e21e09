"""The IRC plugin's settings (design section 4) and the networks they describe.

One network comes from the flags (``--irc-server`` ...); more come from the config file
as ``[[irc.networks]]`` tables, whose keys are the option names without ``irc_``
(``server``, ``nick``, ``channel`` ...). A table inherits every value it does not set
from the flags, environment and ``[irc]`` table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateways.config import ConfigError, Option, Settings, not_negative, positive

PREFIX = "irc_"


def host_port(text: str) -> str:
    """``HOST:PORT`` (``[v6]:PORT`` too), checked so a typo fails at start-up."""
    host, sep, port = text.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return text


def split_host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def irc_name(text: str) -> str:
    """A nick, channel or account name: no spaces, commas or control characters."""
    name = text.strip()
    if not name or name.startswith(":") or any(c in name for c in " ,\r\n\0\x07"):
        raise ValueError(f"not a usable IRC name: {text!r}")
    return name


def channel_name(text: str) -> str:
    """``#chan`` or ``#chan key``: a channel and an optional key."""
    name, _, key = text.strip().partition(" ")
    irc_name(name)
    if name[0] not in "#&+!":
        raise ValueError(f"channel names start with #, &, + or !: {text!r}")
    return f"{name} {irc_name(key)}" if key.strip() else name


def options() -> Sequence[Option]:
    return [*connection_options(), *login_options(), *manners_options()]


def connection_options() -> Sequence[Option]:
    return [
        Option("irc_server", "IRC server to connect to", type=host_port, metavar="HOST:PORT"),
        Option("irc_network", "name of that network in messages [the server host]"),
        Option("irc_nick", "the bot's nick", type=irc_name, default="gateways"),
        Option(
            "irc_alt_nick",
            "nick to try when the nick is in use (repeatable; then NICK_ and NICKnnn)",
            type=irc_name,
            multiple=True,
            metavar="NICK",
        ),
        Option("irc_username", "user name sent with USER [the nick]", type=irc_name),
        Option("irc_realname", "real name sent with USER", default="gateways IRC bot"),
        Option(
            "irc_channel",
            "channel to join, '#chan' or '#chan key' (repeatable)",
            type=channel_name,
            multiple=True,
            metavar="CHANNEL",
        ),
        Option("irc_tls", "connect with TLS", type=bool, default=False),
        Option(
            "irc_tls_verify",
            "verify the server's TLS certificate and host name",
            type=bool,
            default=True,
        ),
        Option("irc_tls_ca", "CA bundle to verify the server's certificate", metavar="FILE"),
    ]


def login_options() -> Sequence[Option]:
    return [
        Option("irc_password", "server password (PASS)", metavar="PASSWORD"),
        Option("irc_sasl_username", "account for SASL PLAIN", type=irc_name, metavar="ACCOUNT"),
        Option("irc_sasl_password", "password for SASL PLAIN", metavar="PASSWORD"),
        Option("irc_nickserv_password", "identify to NickServ with it", metavar="PASSWORD"),
        Option(
            "irc_nickserv_account",
            "account to identify as, when it is not the nick",
            type=irc_name,
            metavar="ACCOUNT",
        ),
    ]


def manners_options() -> Sequence[Option]:
    return [
        Option(
            "irc_flood_rate",
            "lines per second sent to the server once the burst is spent (0: no limit)",
            type=not_negative(float),
            default=1.0,
            metavar="LINES",
        ),
        Option(
            "irc_flood_burst",
            "lines that may go out at once before the rate applies",
            type=positive(int),
            default=4,
            metavar="LINES",
        ),
        Option(
            "irc_queue_max",
            "lines waiting to be sent per network; more are dropped with a warning",
            type=positive(int),
            default=1000,
            metavar="LINES",
        ),
        Option(
            "irc_ping_interval",
            "seconds between keep-alive PINGs (0: none)",
            type=not_negative(float),
            default=60.0,
            metavar="SECONDS",
        ),
        Option(
            "irc_ping_timeout",
            "seconds without PONG before the connection counts as dead",
            type=positive(float),
            default=120.0,
            metavar="SECONDS",
        ),
        Option(
            "irc_reconnect_delay",
            "seconds before the first reconnect attempt (then doubled)",
            type=positive(float),
            default=2.0,
            metavar="SECONDS",
        ),
        Option(
            "irc_reconnect_max_delay",
            "longest pause between reconnect attempts",
            type=positive(float),
            default=300.0,
            metavar="SECONDS",
        ),
        Option("irc_rejoin_on_kick", "join a channel again after a kick", type=bool, default=False),
        Option(
            "irc_rejoin_delay",
            "seconds to wait before rejoining after a kick",
            type=not_negative(float),
            default=5.0,
            metavar="SECONDS",
        ),
    ]


@dataclass(frozen=True)
class Network:
    """Everything one connection needs; built from settings by :func:`networks`."""

    name: str
    host: str
    port: int
    nick: str
    alt_nick: tuple[str, ...]
    username: str
    realname: str
    channel: tuple[str, ...]
    tls: bool
    tls_verify: bool
    tls_ca: str | None
    password: str | None
    sasl_username: str | None
    sasl_password: str | None
    nickserv_password: str | None
    nickserv_account: str | None
    flood_rate: float
    flood_burst: int
    queue_max: int
    ping_interval: float
    ping_timeout: float
    reconnect_delay: float
    reconnect_max_delay: float
    rejoin_on_kick: bool
    rejoin_delay: float

    @property
    def address(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{shown}:{self.port}"

    @property
    def scheme(self) -> str:
        return "ircs" if self.tls else "irc"


def _network(values: Mapping[str, Any], where: str) -> Network:
    server = values.get("server")
    if not server:
        raise ConfigError(f"{where}: no server (HOST:PORT) given")
    host, port = split_host_port(server)
    fields: dict[str, Any] = {k: values.get(k) for k in Network.__dataclass_fields__}
    fields.update(host=host, port=port, name=values.get("network") or host)
    fields["username"] = values.get("username") or values["nick"]
    fields["alt_nick"] = tuple(values.get("alt_nick") or ())
    fields["channel"] = tuple(values.get("channel") or ())
    if bool(fields["sasl_username"]) != bool(fields["sasl_password"]):
        raise ConfigError(f"{where}: SASL needs both sasl_username and sasl_password")
    return Network(**fields)


def _table_values(
    table: Any, base: Mapping[str, Any], known: Mapping[str, Option], where: str
) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    values = dict(base)
    for key, raw in table.items():
        name = key.replace("-", "_")
        if name == "name":
            name = "network"
        option = known.get(name)
        if option is None:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        values[name] = (
            raw
            if option.is_flag and isinstance(raw, bool)
            else option.convert(raw, f"{where} {key}")
        )
    return values


def networks(settings: Settings) -> list[Network]:
    """The networks to connect to: the one the flags name, then each ``[[irc.networks]]``."""
    known = {o.name[len(PREFIX) :]: o for o in options()}
    base = {name: settings.get(PREFIX + name, o.default) for name, o in known.items()}
    found = [_network(base, "--irc-server")] if base.get("server") else []
    tables = settings.table("irc").get("networks", [])
    if not isinstance(tables, list):
        raise ConfigError("config file: irc.networks must be an array of tables [[irc.networks]]")
    for index, table in enumerate(tables):
        where = f"config file: [[irc.networks]] #{index + 1}"
        found.append(
            _network(
                _table_values(table, {**base, "network": None, "server": None}, known, where), where
            )
        )
    names = [n.name for n in found]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"two IRC networks are called {name!r}: give each a distinct name")
    return found


def check(settings: Settings) -> list[Network]:
    """Whole-settings checks, only when ``--plugin irc`` is selected."""
    if "irc" not in (settings.get("plugin") or ()):
        return []
    found = networks(settings)
    if not found:
        raise ConfigError(
            "--plugin irc needs a network: give --irc-server HOST:PORT, or "
            "[[irc.networks]] tables in the --config file"
        )
    return found
