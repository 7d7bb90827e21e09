"""Settings declared once (``Options``), ready converters, and mistakes that name their
source: an unknown file key or variable, a bad value from a flag, variable or file key."""

from __future__ import annotations

import pytest

from gateways.config import (
    ConfigError,
    Option,
    Options,
    boolean,
    byte_size,
    check_file_keys,
    host_port,
    option,
    port,
    resolve,
    unknown_variables,
)
from tests.core.test_cli import gateways


class LineOptions(Options):
    line_port: int = option("TCP port", type=port, default=7000)
    line_peers: list[str] = option("peers", multiple=True, default=["a"])
    line_tables: list[dict[str, int]] = option("tables", file_only=True, default=[])


def test_options_declare_each_default_once_and_read_back_typed(tmp_path):
    declared = {o.name: o for o in LineOptions.declare()}
    assert declared["line_port"].default == 7000 and declared["line_port"].flag == "--line-port"
    assert declared["line_tables"].file_only
    path = tmp_path / "g.toml"
    path.write_text("[line]\nport = 7001\n[[line.tables]]\nx = 1\n")
    read = LineOptions.read(resolve(LineOptions.declare(), {}, {}, path))
    assert (read.line_port, read.line_peers, read.line_tables) == (7001, ["a"], [{"x": 1}])
    partial = LineOptions.read({})  # nothing resolved: the declared defaults, fresh lists
    assert partial.line_port == 7000 and partial.line_peers == ["a"]
    assert partial.line_peers is not declared["line_peers"].default


@pytest.mark.parametrize(
    ("convert", "text", "expected"),
    [
        (port, "0", 0),
        (port, "65535", 65535),
        (host_port, "relay.test:25", ("relay.test", 25)),
        (host_port, "[::1]:2525", ("::1", 2525)),
        (byte_size, "1048576", 1048576),
        (byte_size, "512KiB", 512 * 1024),
        (byte_size, "10MiB", 10 * 1024 * 1024),
        (byte_size, "1.5k", 1536),
        (boolean, "on", True),
        (boolean, "no", False),
    ],
)
def test_ready_converters(convert, text, expected):
    assert convert(text) == expected


@pytest.mark.parametrize(
    ("convert", "text", "message"),
    [
        (port, "65536", "not a port number"),
        (host_port, "relay.test", "expected HOST:PORT"),
        (host_port, "::1:25", "in brackets"),
        (byte_size, "ten megs", "expected a size"),
        (boolean, "perhaps", "expected true or false"),
    ],
)
def test_converters_refuse_with_a_reason(convert, text, message):
    with pytest.raises(ValueError, match=message):
        convert(text)


OPTIONS = [
    Option("http_port", "port", type=int, default=8000, plugin="http"),
    Option("layer", "layer", default="memory://", table_key="url"),
    Option("proxy_headers", "trust", type=bool, default=False, plugin="http"),
    Option("irc_networks", "tables", file_only=True, plugin="irc"),
    Option("app", ""),
]


def test_unknown_file_keys_are_refused_with_a_suggestion():
    check_file_keys(OPTIONS, {"http_port": 1, "http": {"port": 2, "proxy-headers": True}})
    check_file_keys(
        OPTIONS, {"irc": {"networks": []}, "layer": {"url": "x", "capacity": 1}}, ["layer"]
    )
    with pytest.raises(
        ConfigError, match=r"\[http\] has no setting 'prot' \(did you mean 'port'\?\)"
    ):
        check_file_keys(OPTIONS, {"http": {"prot": 1}})
    with pytest.raises(
        ConfigError, match=r"unknown setting 'http_prot' \(did you mean 'http_port'\?\)"
    ):
        check_file_keys(OPTIONS, {"http_prot": 1})
    with pytest.raises(ConfigError, match=r"unknown setting 'ap' \(did you mean 'app'\?\)"):
        check_file_keys(OPTIONS, {"ap": "x:y"})


def test_the_layer_url_may_sit_in_the_layer_table(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('[layer]\nurl = "redis://10.0.0.5:6379/0"\ncapacity = 200\n')
    settings = resolve(OPTIONS, {}, {}, path)
    assert settings.layer == "redis://10.0.0.5:6379/0"
    assert settings.source("layer") == "config file: [layer] url"


def test_unknown_variables_are_reported_with_a_suggestion():
    found = unknown_variables(
        OPTIONS, {"GATEWAYS_HTTP_PROT": "1", "GATEWAYS_APP": "a:b", "HOME": "/"}, ["GATEWAYS_APP"]
    )
    assert found == [
        "environment variable GATEWAYS_HTTP_PROT is not a gateways setting "
        "(did you mean 'GATEWAYS_HTTP_PORT'?)"
    ]


def test_settings_remember_where_each_value_came_from(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text("[http]\nport = 7000\n")
    settings = resolve(OPTIONS, {"proxy_headers": True}, {"GATEWAYS_LAYER": "redis://x"}, path)
    assert settings.source("http_port") == "config file: [http] port"
    assert settings.source("proxy_headers") == "--proxy-headers"
    assert settings.source("layer") == "GATEWAYS_LAYER"
    assert str(settings.error("http_port", "too high")) == "config file: [http] port: too high"


# -- from the command line, as a user meets them ----------------------------------------


def test_a_bad_file_key_is_a_usage_error_with_a_suggestion(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text("[http]\nprot = 8001\n")
    done = gateways("serve", "core_app:routes", "--plugin", "http", "--config", str(path))
    assert done.returncode == 2
    assert "[http] has no setting 'prot' (did you mean 'port'?)" in done.stderr


def test_a_check_of_a_plugin_names_the_variable_the_value_came_from():
    done = gateways(
        "serve", "core_app:routes", "--plugin", "http", env={"GATEWAYS_HTTP_ENDPOINT": "nonsense"}
    )
    assert done.returncode == 2
    assert "GATEWAYS_HTTP_ENDPOINT: 'nonsense' is not a Twisted endpoint" in done.stderr


def test_plugins_not_chosen_do_not_read_or_check_their_settings():
    # A mail setting that an http-only server never reads is not its business to refuse:
    # the command gets past settings and stops at the next check (no workers on memory://).
    done = gateways(
        "serve",
        "core_app:routes",
        "--plugin",
        "http",
        "--workers",
        "0",
        env={"GATEWAYS_SMTP_RELAY": "not-a-host-port", "GATEWAYS_SMTP_PORT": "x"},
    )
    assert done.returncode == 2
    assert "--workers 0 with memory://" in done.stderr and "SMTP" not in done.stderr
