"""The email options read through the core converters, and checks that name where a
bad value came from."""

from __future__ import annotations

import pytest
from gateways_email.options import EmailOptions

from gateways.config import ConfigError
from tests.email.conftest import email_settings

MIB = 1024 * 1024


@pytest.mark.parametrize(("given", "size"), [("1048576", MIB), ("2MiB", 2 * MIB), (512, 512)])
def test_max_size_takes_bytes_or_a_unit(given, size):
    assert EmailOptions.read(email_settings(smtp_max_size=given)).smtp_max_size == size


def test_max_size_of_zero_is_refused():
    with pytest.raises(ConfigError, match="--smtp-max-size: must be positive"):
        email_settings(smtp_max_size="0")


@pytest.mark.parametrize(
    ("given", "relay"),
    [("smtp.example.com:587", ("smtp.example.com", 587)), ("[::1]:2525", ("::1", 2525))],
)
def test_relay_is_a_host_and_a_port(given, relay):
    assert EmailOptions.read(email_settings(smtp_relay=given)).smtp_relay == relay


def test_defaults_come_from_the_declarations():
    read = EmailOptions.read(email_settings())
    assert (read.smtp_bind, read.smtp_timeout, read.smtp_relay) == ("127.0.0.1", 300.0, None)
    assert (read.smtp_relay_retries, read.smtp_relay_concurrency) == (5, 10)
    assert read.hostname() == "mx.example.com"


def test_a_check_names_the_variable_the_value_came_from():
    with pytest.raises(ConfigError, match=r"^GATEWAYS_SMTP_REQUIRE_TLS: needs --smtp-tls-cert"):
        email_settings(environ={"GATEWAYS_SMTP_REQUIRE_TLS": "1"})


def test_an_unreadable_file_is_named_by_its_flag(tmp_path):
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match=r"^--smtp-relay-ca: cannot read"):
        email_settings(smtp_relay_ca=missing)
