"""Rate-limited warnings and escaped client bytes (issue 16: a flood writes a few
lines with counts; client bytes never reach the log raw)."""

from __future__ import annotations

import logging

import pytest

from gateways.plugin import Throttled, printable


def test_printable_escapes_control_characters_and_newlines() -> None:
    assert printable(b"EHLO x\r\n\x1b[31mred\x00") == "EHLO x\\r\\n\\x1b[31mred\\x00"
    assert printable("caf\u00e9\n") == "caf\\xc3\\xa9\\n"
    assert printable(b"back\\slash") == "back\\\\slash"


def test_printable_cuts_long_input_and_says_its_length() -> None:
    text = printable(b"a" * 5000, limit=10)
    assert text == "aaaaaaaaaa... (5000 bytes)"


def test_throttled_writes_once_per_interval_then_counts(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = Throttled(logging.getLogger("test.throttled"), interval=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.throttled"):
        written = [log.warning("queue", "dropped %s", n) for n in range(9836)]
        now[0] = 61.0
        log.warning("queue", "dropped %s", "last")
    assert written.count(True) == 1
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["dropped 0", "dropped last (and 9,835 more like it in the last 60 s)"]


def test_throttled_keys_are_independent(caplog: pytest.LogCaptureFixture) -> None:
    log = Throttled(logging.getLogger("test.throttled.keys"), clock=lambda: 0.0)
    with caplog.at_level(logging.WARNING, logger="test.throttled.keys"):
        assert log.warning("a", "first a")
        assert log.warning("b", "first b")
        assert not log.warning("a", "second a")
    assert [r.getMessage() for r in caplog.records] == ["first a", "first b"]
