"""docs/deploying.md runs as written: its systemd units and supervisord programs are read
from the page itself, and their command lines run as real processes against a real Redis.

Only what cannot run here is replaced: the virtualenv path (this venv's ``gateways``), the
config file path (a temporary copy of the guide's TOML block, pointing at the test's
redis-server and asking for any free HTTP port), and ``/srv/myproject`` (tests/apps, where
the guide's ``myproject.routing:routes`` lives). ``User=`` is not switched to.
"""

from __future__ import annotations

import configparser
import re
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from gateways.testing import GatewaysProcess

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deploying.md"
APPS = ROOT / "tests" / "apps"
FENCE = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```", re.M | re.S)
VENV_GATEWAYS = Path(sys.executable).parent / "gateways"


@dataclass
class Program:
    """One documented process: its command line and how it is stopped."""

    name: str
    argv: list[str]
    directory: str
    stop_signal: signal.Signals
    stop_timeout: float
    copies: int = 1


def fenced(lang: str) -> list[str]:
    return [m["body"] for m in FENCE.finditer(GUIDE.read_text()) if m["lang"] == lang]


def parsed(body: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # ExecStart, not execstart
    parser.read_string(body)
    return parser


def systemd_units() -> dict[str, configparser.ConfigParser]:
    """The page's unit files, by the name their first comment line gives them."""
    units = {}
    for body in fenced("ini"):
        first = body.splitlines()[0]
        if first.startswith("# /etc/systemd/system/"):
            units[first.rsplit("/", 1)[1]] = parsed(body)
    return units


def supervisord_programs() -> dict[str, configparser.SectionProxy]:
    found = {}
    for body in fenced("ini"):
        config = parsed(body)
        for section in config.sections():
            if section.startswith("program:"):
                found[section.removeprefix("program:")] = config[section]
    return found


def guide_config(tmp_path: Path, redis_url: str) -> Path:
    """The guide's TOML block with the test's Redis and a free HTTP port."""
    text = fenced("toml")[0]
    text, layers = re.subn(r'(?m)^url = "redis://[^"]*"$', f'url = "{redis_url}"', text)
    text, ports = re.subn(r"(?m)^port = \d+$", "port = 0", text)
    assert (layers, ports) == (1, 1), f"the guide's TOML block changed shape:\n{text}"
    path = tmp_path / "gateways.toml"
    path.write_text(text)
    return path


def command_line(line: str, config: Path) -> list[str]:
    """The documented command, with this venv's gateways and the test's config file."""
    argv = shlex.split(line)
    assert argv[0].endswith("/venv/bin/gateways"), argv
    argv[0] = str(VENV_GATEWAYS)
    assert argv[argv.index("--config") + 1] == "/etc/gateways/gateways.toml", argv
    argv[argv.index("--config") + 1] = str(config)
    return argv


def from_systemd(name: str, unit: configparser.ConfigParser, config: Path) -> Program:
    service = unit["Service"]
    return Program(
        name,
        command_line(service["ExecStart"], config),
        service["WorkingDirectory"],
        signal.Signals[service["KillSignal"]],
        float(service["TimeoutStopSec"]),
    )


def from_supervisord(name: str, program: configparser.SectionProxy, config: Path) -> Program:
    return Program(
        name,
        command_line(program["command"], config),
        program["directory"],
        signal.Signals["SIG" + program["stopsignal"]],
        float(program["stopwaitsecs"]),
        int(program.get("numprocs", "1")),
    )


def start(program: Program) -> list[GatewaysProcess]:
    assert program.directory == "/srv/myproject", program
    return [
        GatewaysProcess([], program=program.argv, cwd=str(APPS), env={"PYTHONPATH": str(APPS)})
        for _ in range(program.copies)
    ]


def stop_all(processes: list[GatewaysProcess], program_of: dict[int, Program]) -> None:
    """Send each its documented stop signal; each exits 0 within its stop timeout."""
    began = time.monotonic()
    for process in processes:
        process.signal(program_of[id(process)].stop_signal)
    for process in processes:
        allowed = program_of[id(process)].stop_timeout
        assert process.wait(allowed) == 0, process.output
        assert time.monotonic() - began < allowed
        assert " ERROR " not in process.output and "Traceback" not in process.output, process.output


def serve_and_check(interface: GatewaysProcess, workers: list[GatewaysProcess]) -> None:
    """An HTTP request, handled by one of the workers; a WebSocket when it runs."""
    host, port = interface.address("http")
    pids = {w.proc.pid for w in workers}
    reply = httpx.get(f"http://{host}:{port}/", timeout=20)
    assert reply.status_code == 200, reply.text
    assert int(reply.text.rsplit(" ", 1)[1]) in pids
    if "--plugin websocket" in " ".join(interface.args):
        with connect(f"ws://{host}:{port}/chat", open_timeout=10) as socket:
            socket.send("hello")
            assert socket.recv(timeout=10) == "hello"


def run_deployment(interface: Program, worker: Program) -> None:
    processes: list[GatewaysProcess] = []
    program_of: dict[int, Program] = {}
    try:
        for program in (worker, interface):
            for process in start(program):
                processes.append(process)
                program_of[id(process)] = program
        serve_and_check(processes[-1], processes[:-1])
        stop_all(processes, program_of)
    finally:
        for process in processes:
            process.kill()


def test_the_guide_has_what_this_test_runs():
    assert set(systemd_units()) == {"gateways-worker@.service", "gateways-interface.service"}
    assert set(supervisord_programs()) == {"gateways-worker", "gateways-interface"}


def test_systemd_units_run_as_written(tmp_path, redis_layer_url):
    config = guide_config(tmp_path, redis_layer_url)
    units = systemd_units()
    worker = from_systemd("worker", units["gateways-worker@.service"], config)
    worker.copies = 2  # gateways-worker@1, gateways-worker@2
    interface = from_systemd("interface", units["gateways-interface.service"], config)
    run_deployment(interface, worker)


def test_supervisord_programs_run_as_written(tmp_path, redis_layer_url):
    config = guide_config(tmp_path, redis_layer_url)
    programs = supervisord_programs()
    worker = from_supervisord("worker", programs["gateways-worker"], config)
    interface = from_supervisord("interface", programs["gateways-interface"], config)
    run_deployment(interface, worker)


def test_a_stop_waits_for_consumers_in_flight_within_the_stop_timeout(tmp_path, redis_layer_url):
    """KillSignal=SIGTERM with a request in flight: the worker finishes it, the client
    gets its answer, both processes exit 0 well within TimeoutStopSec."""
    config = guide_config(tmp_path, redis_layer_url)
    units = systemd_units()
    worker = from_systemd("worker", units["gateways-worker@.service"], config)
    interface = from_systemd("interface", units["gateways-interface.service"], config)
    (worker_process,) = start(worker)
    (interface_process,) = start(interface)
    try:
        host, port = interface_process.address("http")
        answers: list[httpx.Response] = []
        asking = threading.Thread(
            target=lambda: answers.append(httpx.get(f"http://{host}:{port}/slow/1", timeout=20))
        )
        asking.start()
        worker_process.wait_for("myproject: answering in 1 s")
        worker_process.signal(worker.stop_signal)
        asking.join(20)
        assert answers and answers[0].status_code == 200, answers
        assert worker_process.wait(worker.stop_timeout) == 0
        assert "finishing 1 message(s) in flight" in worker_process.output
        assert interface_process.stop(interface.stop_signal, interface.stop_timeout) == 0
    finally:
        worker_process.kill()
        interface_process.kill()
