"""Start the bot: ``gateways serve --plugin irc irc_app:routes`` against a real ngircd."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateways.testing import GatewaysProcess
from tests.fixtures.inspircd import ServicesIrcd
from tests.fixtures.ircd import Ircd

CHANNEL = "#test"


@pytest.fixture
def start_bot(gateways_process: Callable[..., GatewaysProcess]) -> Callable[..., GatewaysProcess]:
    """``start_bot(ircd, "--irc-flood-rate", "0")``: a bot called ``bot`` in ``#test``,
    reconnecting quickly; returns once it joined (``gateways ready``)."""

    def start(
        ircd: Ircd | ServicesIrcd | None, *extra: str, nick: str = "bot", **kwargs: Any
    ) -> GatewaysProcess:
        args = ["serve", "irc_app:routes", "--plugin", "irc"]
        if ircd is not None:
            args += ["--irc-server", ircd.address, "--irc-network", "testnet"]
            args += ["--irc-nick", nick, "--irc-channel", CHANNEL]
        args += ["--irc-reconnect-delay", "0.2", "--irc-reconnect-max-delay", "1", *extra]
        return gateways_process(*args, **kwargs)

    return start


def bot_joined(user: Any, nick: str = "bot", channel: str = CHANNEL, start: int = 0) -> None:
    """Wait until ``user`` (already in ``channel``) sees the bot join it."""
    user.wait_for(rf"^:{nick}!\S+ JOIN :?{channel}$", 15.0, start)
