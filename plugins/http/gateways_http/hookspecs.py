"""Hooks the http plugin adds (through ``gateways_addhooks``) for other plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateways.plugin import Host, hookspec

if TYPE_CHECKING:
    from twisted.internet.interfaces import IProtocol

    from gateways_http.upgrade import UpgradeRequest


@hookspec(firstresult=True)
def gateways_http_upgrade(host: Host, request: UpgradeRequest) -> IProtocol | None:
    """Take over a connection that asked for `Upgrade: <token>`; return a Twisted protocol or None.

    The HTTP protocol then stops parsing, sets ``transport.protocol`` to the returned
    protocol, calls its ``makeConnection(transport)`` and feeds it ``request.raw``.
    With None, the request is answered as plain HTTP (``http.request``).
    """
