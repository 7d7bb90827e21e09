"""The example third-party plugin ``examples/udp``: installed through its entry point,
served by ``gateways serve --plugin udp``, spoken to with real UDP sockets."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_FILE = ROOT / "examples" / "udp" / "gateways_udp" / "plugin.py"
DOCS = ROOT / "docs" / "plugins.md"


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(10)  # a lost answer fails the test instead of hanging it
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened = [udp_socket() for _ in range(3)]
    yield opened
    for sock in opened:
        sock.close()


@pytest.fixture
def served(gateways_process):
    process = gateways_process("serve", "udp_app:routes", "--plugin", "udp", "--udp-port", "0")
    return process, process.address("udp")


def ask(sock: socket.socket, server: tuple[str, int], data: bytes) -> bytes:
    sock.sendto(data, server)
    answer, sender = sock.recvfrom(65535)
    assert sender == server  # answers leave from the port the client wrote to
    return answer


def test_plugins_lists_udp_with_its_channels_and_options():
    found = subprocess.run(
        [sys.executable, "-m", "gateways", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    (udp,) = [plugin for plugin in json.loads(found.stdout) if plugin["name"] == "udp"]
    assert udp["version"] == "0.1.0"  # the installed distribution, found by entry point
    assert udp["interface"] is True
    assert udp["produces"] == ["udp.receive"]
    assert udp["consumes"] == ["udp.reply!", "udp.send"]
    defaults = {option["flag"]: option["default"] for option in udp["options"]}
    assert defaults == {"--udp-bind": "127.0.0.1", "--udp-port": 9999, "--udp-reply-timeout": 10.0}


def test_each_client_gets_its_own_answers(served, sockets):
    _, server = served
    first, second, _ = sockets
    first.sendto(b"hello from one", server)
    second.sendto(b"hello from two", server)
    assert second.recv(65535) == b"HELLO FROM TWO"
    assert first.recv(65535) == b"HELLO FROM ONE"
    assert ask(first, server, b"again") == b"AGAIN"


def test_the_message_names_client_and_server(served, sockets):
    _, server = served
    client = sockets[0]
    addresses = json.loads(ask(client, server, b"whoami"))
    assert addresses == {"client": list(client.getsockname()), "server": list(server)}


def test_udp_send_reaches_any_address(served, sockets):
    _, server = served
    client, _, third = sockets
    host, port = third.getsockname()
    assert ask(client, server, f"forward {host} {port} over there".encode()) == b"SENT"
    data, sender = third.recvfrom(65535)
    assert (data, sender) == (b"over there", server)


@pytest.mark.parametrize(
    ("bad", "logged"),
    [
        ("forward 127.0.0.1 http x", r"udp\.send refused: port must be a number"),
        ("forward 127.0.0.1 70000 x", r"udp\.send refused: port must be a number"),
        ("forward 127.0.0.1 9", r"udp\.send refused: data must be bytes, got NoneType"),
        ("forward ::1 9 x", r"udp\.send refused: .*(family|not supported)"),  # an OS error
        ("forward 255.255.255.255 9 x", r"udp: a datagram could not be sent"),  # from sendto
    ],
)
def test_a_bad_send_is_logged_and_the_interface_goes_on(served, sockets, bad, logged):
    process, server = served
    client, _, third = sockets
    assert ask(client, server, bad.encode()) == b"SENT"
    process.wait_for(logged)
    host, port = third.getsockname()
    assert ask(client, server, f"forward {host} {port} still here".encode()) == b"SENT"
    assert third.recv(65535) == b"still here"
    assert ask(client, server, b"echo") == b"ECHO"


def test_sigterm_stops_cleanly(served, sockets):
    process, server = served
    assert ask(sockets[0], server, b"last") == b"LAST"
    assert process.stop() == 0
    assert "gateways stopped" in process.output


def test_an_unanswered_datagram_holds_the_drain_only_until_its_reply_timeout(
    gateways_process, sockets
):
    process = gateways_process(
        "serve", "udp_app:routes", "--plugin", "udp", "--udp-port", "0",
        "--udp-reply-timeout", "0.5", "--grace", "20",
    )  # fmt: skip
    sockets[0].sendto(b"ignore", process.address("udp"))
    process.wait_for("ignoring a datagram")
    assert process.stop(timeout=10) == 0  # the drain does not wait out the 20 s grace
    assert "unfinished" not in process.output


def test_a_busy_port_names_the_plugin_and_the_flag(gateways_process, sockets):
    _, port = sockets[0].getsockname()
    process = gateways_process(
        "serve", "udp_app:routes", "--plugin", "udp", "--udp-port", str(port), ready=None
    )
    assert process.wait() == 1
    assert f"udp: cannot listen on 127.0.0.1:{port}" in process.output
    assert "choose another with --udp-port" in process.output


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)


def test_the_docs_walk_through_the_real_files():
    assert PLUGIN_FILE.read_text() in code_blocks("python"), "docs/plugins.md: plugin.py whole"
    assert (PLUGIN_FILE.parents[1] / "pyproject.toml").read_text() in code_blocks("toml")
    for block in code_blocks("python"):
        compile(block, str(DOCS), "exec")
