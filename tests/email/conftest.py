"""The email interface run in the test's own event loop, talked to with smtplib (in a
thread, since smtplib blocks) over real loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from gateways_email import options
from gateways_email.interface import EmailInterface

from gateways import core_options
from gateways.config import resolve
from gateways.layers import BaseChannelLayer, get_layer


def email_settings(**given: Any) -> Any:
    """Settings as ``serve`` resolves them: flags given here, defaults for the rest."""
    args = {
        "plugin": ["email"],
        "smtp_port": 0,
        "smtp_domain": ["example.com"],
        "smtp_hostname": "mx.example.com",
        **given,
    }
    settings = resolve([*core_options.gateways_options(), *options.options()], args, environ={})
    options.check(settings)
    return settings


@pytest.fixture
async def start_email() -> AsyncIterator[Callable[..., Any]]:
    """``await start_email(layer=None, **settings)`` -> a started EmailInterface
    (``.port`` set); drained after the test."""
    started: list[EmailInterface] = []
    layers: list[BaseChannelLayer] = []

    async def start(layer: BaseChannelLayer | None = None, **given: Any) -> EmailInterface:
        if layer is None:
            layer = get_layer("memory://")
            layers.append(layer)
        interface = EmailInterface(email_settings(**given), layer)
        await interface.start()
        assert interface.server is not None
        interface.port = interface.server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        started.append(interface)
        return interface

    yield start
    for interface in started:
        await interface.drain(1.0)
    for layer in layers:
        await layer.close()
