"""A request the interface has given up on never runs: each ``http.request`` carries the
moment the interface answers 503 (``__deadline__``), and a worker that takes it later
drops it unrun. Replayed from outside with a real Redis that stalls (SIGSTOP)."""

from __future__ import annotations

import asyncio
import re
import signal
import threading

import httpx

from gateways.layers import get_layer


def depth(url: str, channel: str) -> int:
    async def count() -> int:
        layer = get_layer(url)
        try:
            return (await layer.channel_figures([channel]))[channel]["depth"]
        finally:
            await layer.close()

    return asyncio.run(count())


def test_requests_answered_503_while_redis_stalled_never_run(
    make_redis_server, http_server, gateways_process, tmp_path
):
    """Regression: with Redis stopped for 10 s under load, requests answered 503 ran
    later anyway: their sends landed once Redis woke, and a worker took them."""
    redis = make_redis_server()
    ran = tmp_path / "ran.txt"
    ran.touch()
    env = {"HTTP_APP_RECORD": str(ran)}
    server = http_server("--layer", redis.url, "--http-timeout", "1", env=env)
    statuses: list[int] = []

    def ask(token: str) -> None:
        statuses.append(httpx.get(f"{server.url}/record/{token}", timeout=20).status_code)

    redis.process.signal(signal.SIGSTOP)
    try:
        askers = [threading.Thread(target=ask, args=(f"late{i}",)) for i in range(3)]
        for asker in askers:
            asker.start()
        for asker in askers:
            asker.join()
    finally:
        redis.process.signal(signal.SIGCONT)
    assert statuses == [503, 503, 503]
    # The sends were on their way when Redis stopped: they land now that it runs.
    landed = depth(redis.url, "http.request")
    assert landed == 3, f"expected the three late sends in http.request, found {landed}"

    worker = gateways_process(
        "worker", "http_app:routes", "--layer", redis.url, "--concurrency", "1",
        "--metrics-port", "0", env=env,
    )  # fmt: skip
    control = httpx.get(f"{server.url}/record/control", timeout=20)
    assert (control.status_code, control.text) == (200, "recorded control")
    # First in, first out: the late three were taken before the control request.
    assert ran.read_text().split() == ["control"]
    metrics = worker.wait_for(r"metrics on (http://\S+)")[1]
    text = httpx.get(metrics + "/metrics").text
    pattern = r'^gateways_messages_expired_total\{channel="http.request"\} (\S+)$'
    expired = re.search(pattern, text, re.MULTILINE)
    assert expired is not None and float(expired[1]) == 3
