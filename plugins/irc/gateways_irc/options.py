"""The IRC plugin's settings (design section 4) and the networks they describe.

One network comes from the flags (``--irc-server`` ...); more come from the config file
as ``[[irc.networks]]`` tables, whose keys are the option names without ``irc_``
(``server``, ``nick``, ``channel`` ...). A table inherits every value it does not set
from the flags, environment and ``[irc]`` table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from gateways.plugin import (
    ConfigError,
    Option,
    Options,
    Settings,
    host_port,
    not_negative,
    option,
    positive,
)

PREFIX = "irc_"
TABLES = "irc_networks"


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


class IrcOptions(Options):
    """Every ``--irc-*`` option; each is also a key of a ``[[irc.networks]]`` table."""

    # -- the connection
    irc_server: tuple[str, int] | None = option(
        "IRC server to connect to", type=host_port, metavar="HOST:PORT"
    )
    irc_network: str | None = option("name of that network in messages [the server host]")
    irc_nick: str = option("the bot's nick", type=irc_name, default="gateways")
    irc_alt_nick: list[str] = option(
        "nick to try when the nick is in use (repeatable; then NICK_ and NICKnnn)",
        type=irc_name,
        multiple=True,
        metavar="NICK",
    )
    irc_username: str | None = option("user name sent with USER [the nick]", type=irc_name)
    irc_realname: str = option("real name sent with USER", default="gateways IRC bot")
    irc_channel: list[str] = option(
        "channel to join, '#chan' or '#chan key' (repeatable)",
        type=channel_name,
        multiple=True,
        metavar="CHANNEL",
    )
    irc_tls: bool = option("connect with TLS", type=bool, default=False)
    irc_tls_verify: bool = option(
        "verify the server's TLS certificate and host name", type=bool, default=True
    )
    irc_tls_ca: str | None = option("CA bundle to verify the server's certificate", metavar="FILE")
    # -- logging in
    irc_password: str | None = option("server password (PASS)", metavar="PASSWORD")
    irc_sasl_username: str | None = option(
        "account for SASL PLAIN", type=irc_name, metavar="ACCOUNT"
    )
    irc_sasl_password: str | None = option("password for SASL PLAIN", metavar="PASSWORD")
    irc_nickserv_password: str | None = option("identify to NickServ with it", metavar="PASSWORD")
    irc_nickserv_account: str | None = option(
        "account to identify as, when it is not the nick", type=irc_name, metavar="ACCOUNT"
    )
    # -- manners
    irc_flood_rate: float = option(
        "lines per second sent to the server once the burst is spent (0: no limit)",
        type=not_negative(float),
        default=1.0,
        metavar="LINES",
    )
    irc_flood_burst: int = option(
        "lines that may go out at once before the rate applies",
        type=positive(int),
        default=4,
        metavar="LINES",
    )
    irc_queue_max: int = option(
        "lines waiting to be sent per network; more are dropped with a warning",
        type=positive(int),
        default=1000,
        metavar="LINES",
    )
    irc_ping_interval: float = option(
        "seconds between keep-alive PINGs (0: none)",
        type=not_negative(float),
        default=60.0,
        metavar="SECONDS",
    )
    irc_ping_timeout: float = option(
        "seconds without PONG before the connection counts as dead",
        type=positive(float),
        default=120.0,
        metavar="SECONDS",
    )
    irc_reconnect_delay: float = option(
        "seconds before the first reconnect attempt (then doubled)",
        type=positive(float),
        default=2.0,
        metavar="SECONDS",
    )
    irc_reconnect_max_delay: float = option(
        "longest pause between reconnect attempts",
        type=positive(float),
        default=300.0,
        metavar="SECONDS",
    )
    irc_rejoin_on_kick: bool = option("join a channel again after a kick", type=bool, default=False)
    irc_rejoin_delay: float = option(
        "seconds to wait before rejoining after a kick",
        type=not_negative(float),
        default=5.0,
        metavar="SECONDS",
    )
    # -- more networks: [[irc.networks]] tables of the config file
    irc_networks: Any = option(
        "more networks: [[irc.networks]] tables of the config file", file_only=True
    )


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


def table_options() -> dict[str, Option]:
    """The options a ``[[irc.networks]]`` table may set, by key (``server``, ``nick`` ...)."""
    return {o.name[len(PREFIX) :]: o for o in IrcOptions.declare() if o.name != TABLES}


def _network(values: Mapping[str, Any], where: str) -> Network:
    """One network from resolved values keyed as in a table (``server``, ``nick`` ...)."""
    server = values.get("server")
    if not server:
        raise ConfigError(f"{where}: no server (HOST:PORT) given")
    if bool(values.get("sasl_username")) != bool(values.get("sasl_password")):
        raise ConfigError(f"{where}: SASL needs both sasl_username and sasl_password")
    found: dict[str, Any] = {f.name: values.get(f.name) for f in fields(Network)}
    found.update(host=server[0], port=server[1], name=values.get("network") or server[0])
    found["username"] = values.get("username") or values["nick"]
    found["alt_nick"] = tuple(values.get("alt_nick") or ())
    found["channel"] = tuple(values.get("channel") or ())
    return Network(**found)


def _table_values(
    table: Any, base: Mapping[str, Any], known: Mapping[str, Option], where: str
) -> dict[str, Any]:
    """``base`` overridden by what one ``[[irc.networks]]`` table sets (converted)."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    values = {**base, "network": None, "server": None}
    for key, raw in table.items():
        name = "network" if key == "name" else key.replace("-", "_")
        declared = known.get(name)
        if declared is None:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        values[name] = (
            raw
            if declared.is_flag and isinstance(raw, bool)
            else declared.convert(raw, f"{where} {key}")
        )
    return values


def _flag_network(settings: Settings, read: IrcOptions, base: Mapping[str, Any]) -> Network:
    """The network of ``--irc-server`` (or its variable, or ``[irc] server``)."""
    if bool(read.irc_sasl_username) != bool(read.irc_sasl_password):
        given = "irc_sasl_username" if read.irc_sasl_username else "irc_sasl_password"
        raise settings.error(given, "SASL needs both --irc-sasl-username and --irc-sasl-password")
    return _network(base, settings.source("irc_server"))


def networks(settings: Settings) -> list[Network]:
    """The networks to connect to: the one the flags name, then each ``[[irc.networks]]``."""
    read = IrcOptions.read(settings)
    known = table_options()
    base = {key: getattr(read, o.name) for key, o in known.items()}
    found = [_flag_network(settings, read, base)] if read.irc_server else []
    tables = read.irc_networks or []
    if not isinstance(tables, list):
        raise settings.error(TABLES, "must be an array of tables [[irc.networks]]")
    for index, table in enumerate(tables):
        where = f"config file: [[irc.networks]] #{index + 1}"
        found.append(_network(_table_values(table, base, known, where), where))
    names = [n.name for n in found]
    for name in names:
        if names.count(name) > 1:
            raise settings.error(
                TABLES, f"two IRC networks are called {name!r}: give each a distinct name"
            )
    return found


def check(settings: Settings) -> list[Network]:
    """Whole-settings checks (the core asks only when ``--plugin irc`` is chosen)."""
    found = networks(settings)
    if not found:
        raise ConfigError(
            "--plugin irc needs a network: give --irc-server HOST:PORT, or "
            "[[irc.networks]] tables in the --config file"
        )
    return found
