"""The one place the http plugin leans on Twisted beyond its documented API.

Writing a response straight to the socket (:mod:`gateways_http.writing`) is only right
when the transport is exactly a plain TCP (or UNIX) connection with nothing waiting in
Twisted's own buffer. Telling that takes attributes of ``twisted.internet.tcp.Connection``
and ``abstract.FileDescriptor`` that are not documented: ``TLS``, ``socket``,
``dataBuffer``/``offset``, ``_tempDataLen``, ``_writeDisconnected`` and
``_writeDisconnecting``.
``tests/http/test_compat.py`` fails loudly when a Twisted release changes them; in
production such a release merely loses the shortcut (every write takes Twisted's path).
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet.tcp import Connection


def idle_socket(transport: Any) -> socket.socket | None:
    """The socket under ``transport`` if bytes may be sent on it directly, else None.

    None for TLS (wrappers forward attribute lookups to the socket underneath, which
    must never see plain text), for anything that is not a Twisted socket connection,
    for a connection that is closing, and while Twisted still holds unsent bytes (they
    must go first).
    """
    if not isinstance(transport, Connection):
        return None
    try:
        if (
            transport.TLS
            or not transport.connected
            or transport.disconnecting
            or transport._writeDisconnected
            or transport._writeDisconnecting
            or transport._tempDataLen
            or len(transport.dataBuffer) != transport.offset
        ):
            return None
        sock: socket.socket = transport.socket
    except AttributeError:
        return None  # a Twisted without these: the ordinary path still works
    return sock


def can_half_close(transport: Any) -> bool:
    """Whether ``transport`` is a plain TCP or UNIX connection, whose write side can be
    shut (``loseWriteConnection``) while reading goes on. TLS wrappers cannot."""
    return isinstance(transport, Connection) and not getattr(transport, "TLS", False)
