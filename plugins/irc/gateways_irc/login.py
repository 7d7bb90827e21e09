"""Getting onto a network: the socket (plain or TLS), SASL PLAIN, nick fallback.

The ``irc`` package's asyncio connection sends ``PASS``/``NICK``/``USER`` as soon as
the socket is open, and only its blocking sibling knows SASL. SASL needs ``CAP LS``
*before* ``NICK``/``USER`` (the server then holds registration until ``CAP END``), so
the connect factory here writes it first, and the library's own SASL PLAIN steps run
on our connection (armed through ``_compat``, the one place that touches its internals).
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from gateways_irc import _compat
from gateways_irc.options import Network

ConnectFactory = Callable[[asyncio.Protocol, tuple[str, int]], Awaitable[Any]]


def tls_context(network: Network) -> ssl.SSLContext | None:
    """A verifying client context (system CAs, or ``tls_ca``); None without TLS."""
    if not network.tls:
        return None
    context = ssl.create_default_context(cafile=network.tls_ca)
    if not network.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect_factory(network: Network) -> ConnectFactory:
    """What ``AioConnection.connect`` calls to open the socket."""
    context = tls_context(network)
    extra: dict[str, Any] = {"ssl": context, "server_hostname": network.host} if context else {}
    wants_sasl = bool(network.sasl_username)

    async def open_socket(protocol: asyncio.Protocol, address: tuple[str, int]) -> Any:
        loop = asyncio.get_running_loop()
        transport, made = await loop.create_connection(lambda: protocol, *address, **extra)
        if wants_sasl:
            transport.write(b"CAP LS\r\n")  # before NICK/USER, which the library sends next
        return transport, made

    return open_socket


def start_sasl(connection: Any, network: Network) -> None:
    """Arm the library's SASL PLAIN state machine for the login that follows (when the
    network has a SASL account)."""
    if network.sasl_username and network.sasl_password:
        _compat.arm_sasl(connection, network.sasl_username, network.sasl_password)


def nick_candidates(network: Network) -> Iterator[str]:
    """Nicks to try in turn when one is taken: alternates, ``nick_``, then ``nickNNN``."""
    yield from network.alt_nick
    base = network.nick
    yield base + "_"
    while True:
        yield f"{base[:6]}{random.randrange(1000):03d}"
