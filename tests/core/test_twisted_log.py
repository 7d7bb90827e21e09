"""Errors Twisted catches reach the process log with their traceback
(gateways/twistedlog.py); its lesser events do not."""

from __future__ import annotations

import logging

from twisted.logger import Logger

from gateways.twistedlog import forward, forwarding


def test_a_caught_error_is_logged_with_its_traceback(caplog):
    caplog.set_level(logging.INFO, logger="twisted")
    twisted_log = Logger(namespace="some.Protocol", observer=forward)
    try:
        raise ValueError("dataReceived blew up")
    except ValueError:
        twisted_log.failure("Unhandled Error Processing Data")
    twisted_log.info("a note for {peer}", peer="x")
    twisted_log.warn("failing WebSocket connection")
    [record] = caplog.records
    assert record.levelno == logging.CRITICAL  # what Logger.failure logs at
    assert record.getMessage() == "some.Protocol: Unhandled Error Processing Data"
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_forwarding_observes_the_global_publisher_only_while_inside(caplog):
    caplog.set_level(logging.INFO, logger="twisted")
    twisted_log = Logger(namespace="some.Thing")  # the global publisher
    with forwarding():
        twisted_log.critical("inside")
    twisted_log.critical("outside")
    assert [r.getMessage() for r in caplog.records] == ["some.Thing: inside"]
