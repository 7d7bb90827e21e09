"""Settings precedence: flag, then GATEWAYS_* variable, then TOML file, then default."""

from __future__ import annotations

import pytest

from gateways.config import ConfigError, Option, not_negative, positive, resolve

OPTIONS = [
    Option("http_port", "port", type=int, default=8000),
    Option("layer", "layer", default="memory://"),
    Option("only_channels", "globs", multiple=True),
    Option("proxy_headers", "trust proxies", type=bool, default=False, plugin="http"),
    Option("grace", "seconds", type=positive(float), default=30.0),
]


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "gateways.toml"
    path.write_text(
        'layer = "redis://file:6379/0"\nonly_channels = ["http.*", "irc-client.*"]\n'
        "[http]\nport = 7000\nproxy-headers = true\n"
    )
    return path


def test_defaults():
    settings = resolve(OPTIONS, {}, {}, None)
    assert settings == {
        "http_port": 8000,
        "layer": "memory://",
        "only_channels": [],
        "proxy_headers": False,
        "grace": 30.0,
    }


def test_file_values_and_sections(config_file):
    settings = resolve(OPTIONS, {}, {}, config_file)
    assert settings.http_port == 7000
    assert settings.layer == "redis://file:6379/0"
    assert settings.only_channels == ["http.*", "irc-client.*"]
    assert settings.proxy_headers is True
    assert settings.table("http")["port"] == 7000


def test_environment_beats_file_and_flags_beat_both(config_file):
    env = {
        "GATEWAYS_HTTP_PORT": "6000",
        "GATEWAYS_ONLY_CHANNELS": "a.*,b.*",
        "GATEWAYS_PROXY_HEADERS": "no",
    }
    settings = resolve(OPTIONS, {}, env, config_file)
    assert (settings.http_port, settings.only_channels, settings.proxy_headers) == (
        6000,
        ["a.*", "b.*"],
        False,
    )
    settings = resolve(OPTIONS, {"http_port": "5000", "only_channels": ["c.*"]}, env, config_file)
    assert (settings.http_port, settings.only_channels) == (5000, ["c.*"])


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ({"http_port": "eighty"}, {}, "--http-port: invalid literal"),
        ({}, {"GATEWAYS_HTTP_PORT": "x"}, "GATEWAYS_HTTP_PORT: invalid literal"),
        ({}, {"GATEWAYS_PROXY_HEADERS": "maybe"}, "GATEWAYS_PROXY_HEADERS: expected true or false"),
        ({"grace": "0"}, {}, "--grace: must be positive"),
    ],
)
def test_bad_values_name_the_setting(args, env, message):
    with pytest.raises(ConfigError, match=message):
        resolve(OPTIONS, args, env, None)


def test_bad_file_values_name_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[http]\nport = "high"\n')
    with pytest.raises(ConfigError, match=r"config file: \[http\] port"):
        resolve(OPTIONS, {}, {}, path)
    path.write_text("only_channels = 3\n")
    with pytest.raises(ConfigError, match="only_channels: expected a list"):
        resolve(OPTIONS, {}, {}, path)


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        resolve(OPTIONS, {}, {}, tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("layer = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve(OPTIONS, {}, {}, broken)


def test_not_negative_takes_zero_and_refuses_less():
    convert = not_negative(float)
    assert convert("0") == 0.0 and convert("2.5") == 2.5
    with pytest.raises(ValueError, match="must be 0 or more, got '-1'"):
        convert("-1")
    with pytest.raises(ValueError, match="must be positive, got '0'"):
        positive(int)("0")
