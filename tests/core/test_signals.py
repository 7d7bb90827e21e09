"""Signals as docs/cli.md describes them, on real processes.

SIGHUP: ``serve`` restarts its embedded workers on the re-imported app (connections and
messages in flight are kept); ``serve`` without embedded workers logs and ignores it;
``worker`` stops gracefully with exit 0. One ``--grace`` budget: a stop never takes much
longer than ``--grace``, however long a consumer runs.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)

APP = """
import asyncio
import logging

from gateways import route

VERSION = {version!r}
log = logging.getLogger("hupapp")


async def version(message, **kwargs):
    await message.reply({{"status": 200, "headers": [], "content": VERSION.encode()}})


async def slow(message, seconds, **kwargs):
    log.info("hupapp: answering in %s s", seconds)
    await asyncio.sleep(float(seconds))
    await version(message)


routes = [
    route("http.request", slow, path=r"^/slow/(?P<seconds>[\\d.]+)$"),
    route("http.request", version),
]
"""


def write_app(folder: Path, version: str) -> None:
    package = folder / "hupapp"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "routes.py").write_text(APP.format(version=version))


def base_url(process) -> str:
    host, port = process.address("http")
    return f"http://{host}:{port}"


class Asking:
    """One request in a thread, so a test can signal the server while it is open."""

    def __init__(self, url: str) -> None:
        self.reply: httpx.Response | Exception | None = None
        self._thread = threading.Thread(target=self._ask, args=(url,), daemon=True)
        self._thread.start()

    def _ask(self, url: str) -> None:
        try:
            self.reply = httpx.get(url, timeout=30)
        except httpx.HTTPError as exc:
            self.reply = exc

    def result(self) -> httpx.Response | Exception | None:
        self._thread.join(30)
        return self.reply


@pytest.fixture
def app_folder(tmp_path: Path) -> Path:
    write_app(tmp_path, "one")
    return tmp_path


def serve_app(gateways_process, folder: Path, *flags: str):
    return gateways_process(
        "serve",
        "--plugin",
        "http",
        "hupapp.routes:routes",
        "--http-port",
        "0",
        *flags,
        cwd=str(folder),
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_sighup_restarts_embedded_workers_on_the_new_code(gateways_process, app_folder):
    process = serve_app(gateways_process, app_folder)
    base = base_url(process)
    assert httpx.get(f"{base}/", timeout=10).text == "one"
    in_flight = Asking(f"{base}/slow/3")
    process.wait_for("hupapp: answering in 3 s")
    write_app(app_folder, "number two")

    process.signal(signal.SIGHUP)
    process.wait_for("worker-2 ready, receiving on http.request")
    # The old worker takes nothing more once its last receive (at most 1 s) returned;
    # the fresh one answers while the old one still finishes the slow request.
    process.wait_for("worker-1: finishing 1 message")
    assert httpx.get(f"{base}/", timeout=10).text == "number two"
    assert "worker-1 stopped" not in process.output
    answered = in_flight.result()
    assert isinstance(answered, httpx.Response) and answered.status_code == 200, answered
    assert answered.text == "one"  # the old worker finished it, on the old code
    process.wait_for("worker-1 stopped")
    assert process.proc.poll() is None
    assert "received SIGHUP: restarting the embedded workers" in process.output
    assert process.stop() == 0


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("def broken(:\n", "invalid syntax"),
        ("routes = []\n", "the APP's routes consume no channel"),
    ],
    ids=["syntax error", "no routes"],
)
def test_sighup_with_broken_code_keeps_the_running_workers(gateways_process, app_folder, code, why):
    process = serve_app(gateways_process, app_folder)
    base = base_url(process)
    (app_folder / "hupapp" / "routes.py").write_text(code)
    process.signal(signal.SIGHUP)
    found = process.wait_for("restart abandoned, the running workers go on: APP .*")
    assert why in found[0]
    assert httpx.get(f"{base}/", timeout=10).text == "one"
    assert "worker-2" not in process.output
    assert process.stop() == 0


def test_sighup_stops_a_worker_gracefully_and_is_ignored_by_an_interface_only_serve(
    gateways_process, redis_layer_url
):
    serve = gateways_process(
        "serve", "--plugin", "http", "--layer", redis_layer_url, "--http-port", "0"
    )
    worker = gateways_process("worker", "myproject.routing:routes", "--layer", redis_layer_url)
    base = base_url(serve)
    in_flight = Asking(f"{base}/slow/1")
    worker.wait_for("myproject: answering in 1 s")

    worker.signal(signal.SIGHUP)
    assert worker.wait(10) == 0, worker.output
    assert "received SIGHUP: stopping gracefully" in worker.output
    answered = in_flight.result()
    assert isinstance(answered, httpx.Response) and answered.status_code == 200, answered

    serve.signal(signal.SIGHUP)
    serve.wait_for("received SIGHUP: no embedded workers to restart here; ignored")
    gateways_process("worker", "myproject.routing:routes", "--layer", redis_layer_url)
    assert httpx.get(f"{base}/", timeout=10).status_code == 200
    assert serve.stop() == 0


def stop_took(process, sig: int = signal.SIGTERM) -> tuple[int, float]:
    began = time.monotonic()
    code = process.stop(sig, timeout=15)
    return code, time.monotonic() - began


def test_serve_grace_is_one_budget_for_interfaces_and_workers(gateways_process, app_folder):
    """A 4 s consumer and --grace 2: the interface drains while the worker still runs
    it, then the worker gets what is left of the same 2 s (not 2 s more)."""
    process = serve_app(gateways_process, app_folder, "--grace", "2")
    in_flight = Asking(f"{base_url(process)}/slow/4")
    process.wait_for("hupapp: answering in 4 s")
    code, took = stop_took(process)
    assert code == 0, process.output
    assert 1.5 < took < 3.0, (took, process.output)
    assert "cancelled 1 consumer(s) still running" in process.output
    assert in_flight.result() is not None


def test_worker_honours_grace(gateways_process, redis_layer_url):
    serve = gateways_process(
        "serve", "--plugin", "http", "--layer", redis_layer_url, "--http-port", "0"
    )
    worker = gateways_process(
        "worker", "myproject.routing:routes", "--layer", redis_layer_url, "--grace", "2"
    )
    Asking(f"{base_url(serve)}/slow/4")
    worker.wait_for("myproject: answering in 4 s")
    code, took = stop_took(worker)
    assert code == 0, worker.output
    assert 1.5 < took < 3.0, (took, worker.output)
    assert "cancelled 1 consumer(s) still running after 2s" in worker.output
