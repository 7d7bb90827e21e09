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
from gateways.host import InterfaceHost
from gateways.layers import BaseChannelLayer, get_layer
from gateways.plugins import get_plugin_host


def email_settings(environ: dict[str, str] | None = None, **given: Any) -> Any:
    """Settings as ``serve`` resolves them: flags given here, then ``environ``, then
    defaults."""
    args = {
        "plugin": ["email"],
        "smtp_port": 0,
        "smtp_domain": ["example.com"],
        "smtp_hostname": "mx.example.com",
        **given,
    }
    declared = [*core_options.gateways_options(), *options.EmailOptions.declare()]
    settings = resolve(declared, args, environ=environ or {})
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
        host = InterfaceHost(email_settings(**given), get_plugin_host(), layer, None, ["email"], 0)
        interface = EmailInterface(host)
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
