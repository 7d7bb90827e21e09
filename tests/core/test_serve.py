"""``gateways serve`` as users run it: a subprocess, a real socket, real signals."""

from __future__ import annotations

import signal
import socket

import pytest

PLUGIN = ["--plugin", "lineproto.plugin"]


class LineClient:
    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=10)
        self.file = self.sock.makefile("rwb")

    def ask(self, text: str) -> str:
        self.file.write(text.encode() + b"\n")
        self.file.flush()
        return self.read()

    def read(self) -> str:
        return self.file.readline().decode().rstrip("\n")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def served(gateways_process):
    process = gateways_process("serve", "core_app:routes", *PLUGIN)
    client = LineClient(process.address("line"))
    yield process, client
    client.close()


def test_routes_reach_async_sync_and_nested_consumers(served):
    _, client = served
    assert client.ask("hello ada") == "hi ada"
    assert client.ask("sync bob") == "sync hi bob"
    assert client.read() == "sync layer works"
    assert client.ask("nested carol") == "hi carol"
    assert client.ask("echo x") == "echo echo x"


def test_failing_consumer_is_logged_answered_and_the_worker_goes_on(served):
    process, client = served
    assert client.ask("explode") == "ERROR RuntimeError"
    process.wait_for(r"consumer failed on line.receive")
    process.wait_for(r"RuntimeError: consumer blew up")
    assert client.ask("hello again") == "hi again"


def test_unrouted_message_is_answered_and_logged_once_per_channel(served):
    process, client = served
    assert client.ask("nobody handles this") == "NOROUTE"
    assert client.ask("nor this") == "NOROUTE"
    assert process.output.count("no route matches a message on line.receive") == 1


def test_sigterm_finishes_work_in_flight_and_exits_zero(served):
    process, client = served
    client.file.write(b"hold on\n")
    client.file.flush()
    process.wait_for("holding hold on")
    assert process.stop(signal.SIGTERM) == 0
    out = process.output
    assert out.index("gateways stopping") < out.index("hold done") < out.index("gateways stopped")


def test_sigint_also_stops_cleanly(served):
    process, client = served
    assert client.ask("hello x") == "hi x"
    assert process.stop(signal.SIGINT) == 0
    assert "lineproto sees the host stopping, grace 30" in process.output


def test_host_hooks_and_plugin_added_hooks_run(gateways_process):
    process = gateways_process(
        "serve", "core_app:routes", *PLUGIN, "--line-greet", "--workers", "2"
    )
    client = LineClient(process.address("line"))
    assert client.read() == "hello 127.0.0.1"
    assert "lineproto sees the host started with 2 worker(s)" in process.output
    ready = "ready, receiving on line.receive"
    process.wait_for(ready)
    first = next(n for n, line in enumerate(process.lines) if ready in line)
    process.wait_for(ready, start=first + 1)  # the second worker (it may log a moment later)
    assert process.output.count(ready) == 2
    client.close()


def test_python_dash_m_serve_needs_an_app_on_the_memory_layer(gateways_process):
    process = gateways_process("serve", *PLUGIN, ready=None)
    assert process.wait(timeout=20) == 2
    assert "needs an APP" in process.output


def test_a_port_in_use_fails_with_status_1_and_a_one_line_reason(gateways_process):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        process = gateways_process(
            "serve", "core_app:routes", *PLUGIN, "--line-port", port, ready=None
        )
        assert process.wait(timeout=20) == 1
    assert "serve failed: [Errno 98]" in process.output
    assert "Traceback" not in process.output
