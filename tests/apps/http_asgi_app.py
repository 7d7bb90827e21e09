"""ASGI applications served as ``http.request`` consumers through ``asgi_consumer``:
Starlette (lifespan, streamed body and response), FastAPI (an exception handler, a
streaming response) and a Django async view."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator

import django
from django.conf import settings
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from gateways_http.asgi import asgi_consumer
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.responses import StreamingResponse as StarletteStreaming
from starlette.routing import Route

from gateways import route

# -- Starlette ------------------------------------------------------------------------


def _note(path: str, event: str) -> None:
    with open(path, "a") as log:
        log.write(event + "\n")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
    marker = os.environ.get("ASGI_LIFESPAN_LOG")
    if marker:
        _note(marker, "startup")
    yield {"greeting": "hello"}
    if marker:
        _note(marker, "shutdown")


async def hello(request):
    name = request.path_params["name"]
    return PlainTextResponse(f"{request.state.greeting} {name} from starlette")


async def upload(request):
    digest, length = hashlib.sha256(), 0
    async for piece in request.stream():
        digest.update(piece)
        length += len(piece)
    return PlainTextResponse(f"{length} {digest.hexdigest()}")


async def lines():
    for n in range(3):
        yield f"line {n}\n"
        await asyncio.sleep(0)


async def stream(request):
    return StarletteStreaming(lines(), media_type="text/plain")


async def endless():
    n = 0
    while True:
        yield f"line {n}\n"
        n += 1
        await asyncio.sleep(0.02)


async def forever(request):
    return StarletteStreaming(endless(), media_type="text/plain")


async def scope_echo(request):
    scope = request.scope
    return PlainTextResponse(
        f"{scope['method']} {scope['path']} {scope['query_string'].decode()} "
        f"{scope['http_version']} {request.headers.get('x-thing')} {request.url}"
    )


starlette_app = Starlette(
    routes=[
        Route("/starlette/hello/{name}", hello),
        Route("/starlette/upload", upload, methods=["POST"]),
        Route("/starlette/stream", stream),
        Route("/starlette/forever", forever),
        Route("/starlette/scope", scope_echo),
    ],
    lifespan=lifespan,
)

# -- a raw ASGI long poll: it waits for the client to leave ------------------------------


async def long_poll(scope, receive, send):
    if scope["type"] != "http":
        raise ValueError("http only")  # how an ASGI app says it has no lifespan
    await receive()  # the (empty) body
    logging.getLogger("http_asgi_app").warning("long poll waiting")
    event = await receive()
    logging.getLogger("http_asgi_app").warning("long poll heard %s", event["type"])


# -- FastAPI --------------------------------------------------------------------------

fastapi_app = FastAPI()


class Teapot(Exception):
    pass


@fastapi_app.exception_handler(Teapot)
async def teapot_handler(request: Request, exc: Teapot) -> JSONResponse:
    return JSONResponse({"error": "short and stout"}, status_code=418)


@fastapi_app.get("/fastapi/items/{item}")
async def item(item: int, q: str = "") -> dict[str, object]:
    return {"item": item, "q": q}


@fastapi_app.get("/fastapi/teapot")
async def teapot() -> None:
    raise Teapot


@fastapi_app.get("/fastapi/crash")
async def crash() -> None:
    raise RuntimeError("fastapi view failed")


@fastapi_app.get("/fastapi/stream")
async def fastapi_stream() -> StreamingResponse:
    return StreamingResponse(lines(), media_type="text/plain")


# -- Django ---------------------------------------------------------------------------

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="tests-only",
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402  (needs the settings)
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


async def django_view(request, name):
    await asyncio.sleep(0)  # a real coroutine view
    return HttpResponse(f"hello {name} from django {request.method}", content_type="text/plain")


urlpatterns = [path("django/hello/<str:name>", django_view)]
django_app = get_asgi_application()

routes = [
    route("http.request", asgi_consumer(starlette_app), path=r"^/starlette/"),
    route("http.request", asgi_consumer(fastapi_app), path=r"^/fastapi/"),
    route("http.request", asgi_consumer(django_app), path=r"^/django/"),
    route("http.request", asgi_consumer(long_poll), path=r"^/longpoll$"),
]
