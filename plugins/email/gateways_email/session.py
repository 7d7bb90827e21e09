"""The SMTP session served per connection: aiosmtpd's, with the access log
(:class:`~gateways_email.access.AccessSMTP`) and a cheaper reading of the addresses in
``MAIL FROM`` and ``RCPT TO``.

aiosmtpd 1.4.6 reads every address with the ``email`` package's RFC 5322 header
parser, and defines a new ``typing.Protocol`` class on each call to do it: about a
quarter of the CPU a bare aiosmtpd server spends per mail. Nearly every address an MTA
sends is a plain ``<local@domain>`` of dot-atoms; for those the parser's answer is the
text between the brackets, so it is taken from there. Anything else (quoted local
parts, domain literals, comments, encoded words, non-ASCII, source routes) goes
through aiosmtpd's own parsing, unchanged.
"""

from __future__ import annotations

import re

from gateways_email.access import AccessSMTP

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
#: ``<dot-atom@dot-atom>`` and the blanks after it (the parser's trailing CFWS).
_PLAIN_PATH = re.compile(rf"<({_DOT_ATOM})@({_DOT_ATOM})>[ \t]*")


def plain_path(arg: str, local_part_limit: int = 0) -> tuple[str | None, str | None] | None:
    """aiosmtpd's ``(address, rest)`` for a plain ``<local@domain>`` path, or None when
    ``arg`` needs the full parser."""
    found = _PLAIN_PATH.match(arg)
    if found is None or arg.startswith("(", found.end()) or "=?" in found.group(1):
        return None  # a comment follows, or the local part may be an encoded word
    local, domain = found.groups()
    if local_part_limit and len(local) > local_part_limit:
        return None, None
    return f"{local}@{domain}", arg[found.end() :]


class GatewaysSMTP(AccessSMTP):
    """The session class the email interface serves."""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        found = plain_path(arg, self.local_part_limit)
        if found is not None:
            return found
        address: tuple[str | None, str | None] = super()._getaddr(arg)
        return address
