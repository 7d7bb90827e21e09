"""Shared fixtures. Real peers live in tests/fixtures/ (one module per server kind)."""

pytest_plugins = [
    "tests.fixtures.layers",
    "tests.fixtures.tls",
    "tests.fixtures.processes",
    "tests.fixtures.redis_server",
    "tests.fixtures.redis_ha",
    "tests.fixtures.ircd",
    "tests.fixtures.inspircd",
    "tests.fixtures.smtp",
    "tests.fixtures.http",
    "tests.fixtures.browser",
]
