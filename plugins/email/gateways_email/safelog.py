"""aiosmtpd's own log (logger ``mail.log``) made safe to keep on.

aiosmtpd writes what clients send into its log lines as they came: ``%r unrecognised:
%s`` puts the client's command word (control characters, ANSI escapes and all) in a
WARNING, one per bogus command, so one client can flood the log or rewrite the
operator's terminal. The filter here escapes the text of every ``mail.log`` record
with :func:`~gateways.plugin.printable`, and hands its warnings to a
:class:`~gateways.plugin.Throttled` on the plugin's logger: one line a minute per kind
of warning, with counts. Records with a traceback (a bug, not a client) pass as they are.
"""

from __future__ import annotations

import logging

from gateways.plugin import Throttled, printable

AIOSMTPD_LOGGER = "mail.log"
#: Longest aiosmtpd log text kept (it quotes client commands).
TEXT_LIMIT = 500


class SafeAiosmtpdLog(logging.Filter):
    def __init__(self, ours: logging.Logger) -> None:
        super().__init__()
        self.throttled = Throttled(ours)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            return True
        kind = str(record.msg)
        text = printable(record.getMessage(), TEXT_LIMIT)
        if record.levelno < logging.WARNING:
            record.msg, record.args = text, ()
            return True
        self.throttled.log(record.levelno, f"aiosmtpd {kind}", "smtp: %s", text)
        return False


def install(ours: logging.Logger) -> None:
    """Put a fresh filter on ``mail.log`` (replacing one a previous interface put)."""
    logger = logging.getLogger(AIOSMTPD_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, SafeAiosmtpdLog)]:
        logger.removeFilter(old)
    logger.addFilter(SafeAiosmtpdLog(ours))
