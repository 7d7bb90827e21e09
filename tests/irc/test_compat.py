"""irc-library internals the plugin relies on (gateways_irc/_compat.py).

The asyncio connection of the ``irc`` package is driven through a whole SASL PLAIN
login by a scripted server on a loopback socket. If one of these fails after an ``irc``
upgrade, ``_compat.py`` must be adapted before that release can be allowed.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
from typing import Any

from gateways_irc._compat import arm_sasl, login_failure
from irc.client import ServerConnection
from irc.client_aio import AioConnection, AioReactor

#: What the scripted server answers to each line the client sends (by its start).
SASL_SERVER = {
    "CAP LS": ":irc.test CAP * LS :multi-prefix sasl",
    "CAP REQ": ":irc.test CAP * ACK :sasl",
    "AUTHENTICATE PLAIN": "AUTHENTICATE +",
    "AUTHENTICATE ": ":irc.test 903 bot :SASL authentication successful",
}
NO_SASL_SERVER = {"CAP LS": ":irc.test CAP * LS :multi-prefix"}
REFUSING_SERVER = {
    **SASL_SERVER,
    "AUTHENTICATE ": ":irc.test 904 bot :SASL authentication failed",
}


async def login(script: dict[str, str]) -> tuple[list[str], list[Any]]:
    """Log in against a server that answers from ``script``; what the client sent, and
    the ``saslsuccess``/``login_failed`` events it saw, once it ended negotiation."""
    sent: list[str] = []
    ended, hung_up = asyncio.Event(), asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            sent.append(line)
            answer = next((v for k, v in script.items() if line.startswith(k)), None)
            if answer is not None:
                writer.write(answer.encode() + b"\r\n")
            if line == "CAP END":
                ended.set()
        writer.close()
        hung_up.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reactor = AioReactor(loop=asyncio.get_running_loop())
    outcomes: list[Any] = []
    for kind in ("saslsuccess", "login_failed"):
        reactor.add_global_handler(kind, lambda _connection, event: outcomes.append(event))
    connection = reactor.server()
    await connection.connect("127.0.0.1", port, "bot")
    arm_sasl(connection, "acct", "sesame")
    connection.send_raw("CAP LS")
    try:
        await asyncio.wait_for(ended.wait(), 5)
    finally:
        connection.disconnect()
        await asyncio.wait_for(hung_up.wait(), 5)
        server.close()
    return sent, outcomes


def test_the_library_sasl_plain_steps_run_on_an_asyncio_connection():
    sent, outcomes = asyncio.run(login(SASL_SERVER))
    token = base64.b64encode(b"\0acct\0sesame").decode()
    assert sent[sent.index("CAP LS") : sent.index("CAP END") + 1] == [
        "CAP LS",
        "CAP REQ sasl",
        "AUTHENTICATE PLAIN",
        f"AUTHENTICATE {token}",
        "CAP END",
    ]
    assert [e.type for e in outcomes] == ["saslsuccess"]


def test_a_server_without_sasl_is_a_login_failure_with_a_reason():
    sent, outcomes = asyncio.run(login(NO_SASL_SERVER))
    assert "CAP REQ sasl" not in sent and "CAP END" in sent
    assert [e.type for e in outcomes] == ["login_failed"]
    assert login_failure(outcomes[0]) == "server does not support sasl"


def test_a_refused_password_is_a_login_failure_with_the_servers_reason():
    _, outcomes = asyncio.run(login(REFUSING_SERVER))
    assert [e.type for e in outcomes] == ["login_failed"]
    assert "SASL authentication failed" in login_failure(outcomes[0])


def test_the_private_methods_wire_connection_leans_on_are_still_there():
    """``wire.Connection`` runs ``_process_line`` per line and overrides ``_handle_other``
    (behaviour: tests/irc/test_hostile_server.py, a QUIT without reason and bad lines)."""
    from gateways_irc.wire import Connection

    assert list(inspect.signature(Connection._process_line).parameters) == ["self", "line"]
    assert list(inspect.signature(ServerConnection._handle_other).parameters) == [
        "self",
        "arguments",
        "command",
        "source",
        "tags",
    ]
    assert issubclass(Connection, ServerConnection)
    assert "process_data" in vars(AioConnection)  # what its protocol calls with each read
