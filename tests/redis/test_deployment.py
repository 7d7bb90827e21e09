"""The production shape: ``gateways serve --layer redis://...`` runs the HTTP interface
only, separate ``gateways worker`` processes run the consumers."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter

import httpx
import pytest

from gateways import heap
from tests.core.test_heap import frozen_and_young

pytestmark = pytest.mark.timeout(60)


class Load:
    """Clients in threads sending GET /whoami back to back until stopped."""

    def __init__(self, base: str, clients: int = 4) -> None:
        self.base = base
        self.statuses: Counter[int | str] = Counter()
        self.pids: Counter[int] = Counter()
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    reply = client.get("/whoami")
                    status: int | str = reply.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with self.changed:
                    self.statuses[status] += 1
                    if status == 200:
                        self.pids[int(reply.text)] += 1
                    self.changed.notify_all()

    def wait_for(self, more: int, served_by: int | None = None, timeout: float = 20) -> None:
        """Wait for ``more`` answers from now on (and one from pid ``served_by``)."""
        with self.changed:
            target = sum(self.statuses.values()) + more
            ok = self.changed.wait_for(
                lambda: (
                    sum(self.statuses.values()) >= target
                    and (served_by is None or self.pids[served_by] > 0)
                ),
                timeout,
            )
        assert ok, f"load stalled: {self.statuses}, {self.pids}"

    def stop(self) -> Counter[int | str]:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return self.statuses


def start_serve(gateways_process, url):
    serve = gateways_process(
        "serve", "--plugin", "http", "--layer", url, "--http-port", "0", "--http-timeout", "20"
    )
    host, port = serve.address("http")
    return serve, f"http://{host}:{port}"


def start_worker(gateways_process, url, *args):
    return gateways_process("worker", "redis_app:web", "--layer", url, *args)


def test_rolling_restart_of_workers_under_load_fails_no_request(redis_layer_url, gateways_process):
    _, base = start_serve(gateways_process, redis_layer_url)
    first, second = (start_worker(gateways_process, redis_layer_url) for _ in range(2))
    load = Load(base)
    try:
        load.wait_for(100)
        assert first.stop(signal.SIGTERM) == 0  # finishes what it holds, takes no more
        third = start_worker(gateways_process, redis_layer_url)
        load.wait_for(100, served_by=third.proc.pid)
        assert second.stop(signal.SIGTERM) == 0
        fourth = start_worker(gateways_process, redis_layer_url)
        load.wait_for(100, served_by=fourth.proc.pid)
    finally:
        statuses = load.stop()
    assert set(statuses) == {200}, statuses
    assert set(load.pids) == {p.proc.pid for p in (first, second, third, fourth)}


def test_an_outage_answers_503_fast_and_everything_recovers(make_redis_server, gateways_process):
    server = make_redis_server()
    serve, base = start_serve(gateways_process, server.url)
    worker = start_worker(gateways_process, server.url)
    assert httpx.get(base + "/whoami").status_code == 200
    server.kill()
    started = time.monotonic()
    reply = httpx.get(base + "/whoami", timeout=10)
    assert reply.status_code == 503 and time.monotonic() - started < 2
    server.start(keep_port=True)
    deadline = time.monotonic() + 15
    while (status := httpx.get(base + "/whoami", timeout=10).status_code) != 200:
        assert status == 503 and time.monotonic() < deadline  # until the worker is back
    assert serve.proc.poll() is None and worker.proc.poll() is None
    assert "Traceback" not in serve.output + worker.output


def test_only_and_exclude_channels_split_http_from_the_rest(redis_layer_url, gateways_process):
    _, base = start_serve(gateways_process, redis_layer_url)
    web = start_worker(gateways_process, redis_layer_url, "--only-channels", "http.*")
    jobs = start_worker(gateways_process, redis_layer_url, "--exclude-channels", "http.*")
    assert {int(httpx.get(base + "/whoami").text) for _ in range(20)} == {web.proc.pid}
    assert "http." not in jobs.wait_for("receiving on .*")[0]


def test_one_config_file_serves_interface_and_worker_as_the_deploying_guide_shows(
    redis_layer_url, gateways_process, tmp_path
):
    """The guide's file: ``app`` and ``[layer] url`` from the file, nothing on the line."""
    config = tmp_path / "gateways.toml"
    config.write_text(
        f'app = "redis_app:web"\n\n[layer]\nurl = "{redis_layer_url}"\ncapacity = 200\n\n'
        "[http]\nport = 0\ntimeout = 20\n"
    )
    serve = gateways_process("serve", "--config", str(config), "--plugin", "http")
    worker = gateways_process("worker", "--config", str(config))
    host, port = serve.address("http")
    assert httpx.get(f"http://{host}:{port}/whoami").text == str(worker.proc.pid)
    assert worker.stop(signal.SIGTERM) == 0 and serve.stop(signal.SIGTERM) == 0
    assert "WARNING" not in serve.output + worker.output


def test_a_worker_process_runs_with_its_start_up_heap_frozen(redis_layer_url, gateways_process):
    _, base = start_serve(gateways_process, redis_layer_url)
    start_worker(gateways_process, redis_layer_url)
    reply = httpx.get(base + "/heap", timeout=20)
    assert reply.status_code == 200
    frozen, young = frozen_and_young(reply.text)
    assert frozen > 5_000  # gateways, redis-py, msgpack and the app
    assert young == heap.YOUNG_THRESHOLD
