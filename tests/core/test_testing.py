"""The process helpers of gateways.testing and the gateways_server fixture."""

from __future__ import annotations

import os
import re
import signal
import sys
import urllib.request

import pytest

from gateways.testing import GatewaysProcess

NEVER_READY = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(120)"


def test_a_process_that_never_gets_ready_is_killed_and_reaped():
    with pytest.raises(AssertionError, match="no line matched") as failure:
        GatewaysProcess([], program=[sys.executable, "-c", NEVER_READY], timeout=1)
    found = re.search(r"pid (\d+)", str(failure.value))
    assert found, str(failure.value)
    with pytest.raises(ProcessLookupError):
        os.kill(int(found[1]), 0)


def test_output_and_exit_status_of_a_finished_process():
    with GatewaysProcess(
        [], program=[sys.executable, "-c", "print('ready now')"], ready="ready now"
    ) as process:
        assert process.wait(timeout=10) == 0
        assert process.output == "ready now"


STOPS_ON_TERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: (print('terminated', flush=True), sys.exit(0)))\n"
    "print('ready now', flush=True)\n"
    "time.sleep(120)\n"
)
IGNORES_TERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready now', flush=True)\n"
    "time.sleep(120)\n"
)


def test_leaving_with_stops_by_sigterm_first():
    with GatewaysProcess([], program=[sys.executable, "-c", STOPS_ON_TERM], ready="ready now") as p:
        mark = len(p.lines)
    assert p.returncode == 0
    assert p.lines[mark:] == ["terminated"]


def test_leaving_with_kills_past_the_grace():
    program = [sys.executable, "-c", IGNORES_TERM]
    with GatewaysProcess([], program=program, ready="ready now", grace=0.3) as process:
        pass
    assert process.returncode == -signal.SIGKILL


def test_wait_for_from_a_line_index():
    script = "print('step 1'); print('step 2'); print('step 1 again', flush=True)"
    process = GatewaysProcess([], program=[sys.executable, "-c", script], ready="again")
    assert isinstance(process.lines, list) and isinstance(process.output, str)
    assert process.wait_for(r"step 1", start=2)[0] == "step 1"
    assert process.lines.index("step 1 again") == 2
    assert process.wait(10) == 0


def test_gateways_server_fixture_serves_on_a_free_port(gateways_server):
    server = gateways_server("tests.apps.http_app:routes", "--plugin", "http")
    assert server.url == f"http://127.0.0.1:{server.port('http')}"
    with urllib.request.urlopen(server.url + "/hello", timeout=10) as response:
        assert response.read() == b"hello"
    assert server.close() == 0  # SIGTERM: a clean stop
    assert "received SIGTERM" in server.output
