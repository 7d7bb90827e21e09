"""A worker killed while it runs a request (SIGKILL, the OOM killer): its client is
answered 502 within a few heartbeats instead of waiting out ``--http-timeout``
(issue 16: clients of a SIGKILLed worker waited the full two minutes)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal

import httpx

from gateways.layers import get_layer


def wait_until_listed(url: str) -> None:
    """Until a worker's heartbeat lists a request it holds (it beats every 2 s)."""

    async def look() -> None:
        layer = get_layer(url)
        try:
            for _ in range(100):
                if any(record.get("holding") for record in await layer.alive("worker")):
                    return
                await asyncio.sleep(0.1)
            raise AssertionError("no worker heartbeat listed the request within 10 s")
        finally:
            await layer.close()

    asyncio.run(look())


def test_the_client_of_a_killed_worker_gets_502_not_the_timeout(
    redis_layer_url, gateways_process
) -> None:
    serve = gateways_process(
        "serve", "redis_app:web", "--plugin", "http", "--http-port", "0",
        "--layer", redis_layer_url, "--http-timeout", "300",
    )  # fmt: skip
    host, port = serve.address("http")
    worker = gateways_process("worker", "redis_app:web", "--layer", redis_layer_url)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # The client would wait 300 s for an answer; it gets one long before its 60.
        pending = pool.submit(httpx.get, f"http://{host}:{port}/hang", timeout=60)
        worker.wait_for("holding request /hang")
        wait_until_listed(redis_layer_url)
        worker.proc.send_signal(signal.SIGKILL)
        reply = pending.result()
    assert reply.status_code == 502
    assert "worker" in reply.text
    serve.wait_for("worker .* stopped holding 1 request")
    # The interface still serves once a worker runs again.
    gateways_process("worker", "redis_app:web", "--layer", redis_layer_url)
    assert httpx.get(f"http://{host}:{port}/whoami", timeout=30).status_code == 200
