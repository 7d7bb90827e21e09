"""ASGI 3 applications as ``http.request`` consumers (``asgi_consumer``), served by a
real ``gateways serve --plugin http``: Starlette, FastAPI and a Django async view."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
from pathlib import Path

import httpx
import pytest
from gateways_http.asgi import asgi_consumer

from gateways import route
from gateways.layers import get_layer
from gateways.plugins import get_plugin_host
from gateways.routing import Router
from gateways.worker import Worker


@pytest.fixture
def lifespan_log(tmp_path: Path) -> Path:
    return tmp_path / "lifespan.log"


@pytest.fixture
def asgi_served(http_server, lifespan_log: Path):
    return http_server(app="http_asgi_app:routes", env={"ASGI_LIFESPAN_LOG": str(lifespan_log)})


def test_starlette_app_gets_its_lifespan_state(asgi_served, lifespan_log: Path) -> None:
    reply = httpx.get(asgi_served.url + "/starlette/hello/ada")
    assert (reply.status_code, reply.text) == (200, "hello ada from starlette")
    assert lifespan_log.read_text() == "startup\n"


def test_lifespan_shutdown_runs_once_when_the_worker_stops(asgi_served, lifespan_log) -> None:
    assert httpx.get(asgi_served.url + "/starlette/hello/x").status_code == 200
    asgi_served.process.stop()
    assert lifespan_log.read_text() == "startup\nshutdown\n"


def test_starlette_reads_a_large_body_streamed_from_body_channel(asgi_served) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB: past the in-message body, over body_channel
    reply = httpx.post(asgi_served.url + "/starlette/upload", content=data, timeout=30)
    assert reply.text == f"{len(data)} {hashlib.sha256(data).hexdigest()}"


def test_starlette_streaming_response_streams(asgi_served) -> None:
    with httpx.stream("GET", asgi_served.url + "/starlette/stream") as reply:
        assert reply.headers["transfer-encoding"] == "chunked"
        assert list(reply.iter_lines()) == ["line 0", "line 1", "line 2"]


def test_scope_carries_the_request(asgi_served) -> None:
    reply = httpx.get(asgi_served.url + "/starlette/scope?a=1", headers={"X-Thing": "t"})
    assert reply.text == (f"GET /starlette/scope a=1 1.1 t {asgi_served.url}/starlette/scope?a=1")


def test_fastapi_json_and_its_exception_handler(asgi_served) -> None:
    assert httpx.get(asgi_served.url + "/fastapi/items/7?q=x").json() == {"item": 7, "q": "x"}
    teapot = httpx.get(asgi_served.url + "/fastapi/teapot")
    assert (teapot.status_code, teapot.json()) == (418, {"error": "short and stout"})
    assert httpx.get(asgi_served.url + "/fastapi/items/nope").status_code == 422


def test_fastapi_unhandled_error_is_a_500_and_logged(asgi_served) -> None:
    assert httpx.get(asgi_served.url + "/fastapi/crash").status_code == 500
    asgi_served.process.wait_for("RuntimeError: fastapi view failed")
    assert httpx.get(asgi_served.url + "/fastapi/items/1").status_code == 200  # still serving


def test_fastapi_streaming_response(asgi_served) -> None:
    with httpx.stream("GET", asgi_served.url + "/fastapi/stream") as reply:
        assert list(reply.iter_lines()) == ["line 0", "line 1", "line 2"]


def test_django_async_view(asgi_served) -> None:
    reply = httpx.post(asgi_served.url + "/django/hello/grace", content=b"")
    assert (reply.status_code, reply.text) == (200, "hello grace from django POST")


# -- lifespan, in-process ----------------------------------------------------------------


def _lifespan_app(calls: list[str], fail: bool = False, started=None):
    async def app(scope, receive, send):
        assert scope["type"] == "lifespan"
        while True:
            event = await receive()
            calls.append(event["type"])
            if event["type"] == "lifespan.startup":
                kind = "failed" if fail else "complete"
                await send({"type": f"lifespan.startup.{kind}", "message": "no database"})
                if started is not None:
                    started.set()
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    return app


async def _two_workers(routes):
    layer = get_layer("memory://")
    workers = [Worker(layer, Router(routes), get_plugin_host(), name=f"w{n}") for n in (1, 2)]
    tasks = [asyncio.create_task(w.run(grace=1)) for w in workers]
    return layer, workers, tasks


async def test_lifespan_runs_once_for_the_workers_of_a_process() -> None:
    calls: list[str] = []
    started = asyncio.Event()
    consumer = asgi_consumer(_lifespan_app(calls, started=started))
    layer, workers, tasks = await _two_workers([route("http.request", consumer)])
    await asyncio.wait_for(started.wait(), 5)
    for worker in workers:
        worker.stop()
    await asyncio.gather(*tasks)
    await layer.close()
    assert calls == ["lifespan.startup", "lifespan.shutdown"]


async def test_a_failed_lifespan_startup_stops_the_worker_with_its_message() -> None:
    calls: list[str] = []
    layer, _, tasks = await _two_workers(
        [route("http.request", asgi_consumer(_lifespan_app(calls, fail=True)))]
    )
    results = await asyncio.gather(*tasks, return_exceptions=True)
    await layer.close()
    assert any("lifespan startup failed: no database" in str(r) for r in results)


# -- the client leaving ----------------------------------------------------------------


def test_a_streaming_app_hears_that_its_client_left(asgi_served) -> None:
    with httpx.stream("GET", asgi_served.url + "/starlette/forever") as reply:
        lines = reply.iter_lines()
        assert next(lines) == "line 0"
    # ASGI 2.4: the next send raises; Starlette ends the stream, the consumer returns
    asgi_served.process.wait_for(r"GET /starlette/forever: the client left")


def test_a_long_poll_gets_http_disconnect_when_its_client_leaves(asgi_served) -> None:
    """A connection reset (a client killed, a tab closed by a proxy): heard at once. (A
    plain FIN is a half-close that still waits for its answer: see docs/http.md.)"""
    client = asgi_served.connect()
    client.send(b"GET /longpoll HTTP/1.1\r\nHost: x\r\n\r\n")
    asgi_served.process.wait_for("long poll waiting")
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST
    asgi_served.process.wait_for("long poll heard http.disconnect")
