"""ASGI 3 applications as ``http.request`` consumers.

``route("http.request", asgi_consumer(app))`` serves a Django, Starlette or FastAPI
application from a worker: the request message becomes the ASGI ``scope``, the body
(streamed from ``body_channel`` when large) comes from ``receive()``, and each
``http.response.body`` the application sends is a reply on ``reply_channel``, so
streaming responses stream (``more_content``). The counterpart of
:func:`gateways_http.wsgi.wsgi_consumer`.

The application's lifespan (``startup``/``shutdown``) runs once per worker process:
the worker starts it before taking messages and ends it after its drain.

WebSocket applications are not served through this adapter: an ASGI WebSocket
connection lives inside one ``app(scope, receive, send)`` call, so it would belong to
the worker that accepted it, and restarting that worker would close it. The websocket
plugin's consumers keep connections on the interface instead, which is what lets
workers restart without dropping clients (see docs/http.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any, ClassVar, Literal

from gateways.plugin import Message
from gateways_http.body import CHUNK

log = logging.getLogger("gateways.http.asgi")

Scope = MutableMapping[str, Any]
Event = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
LifespanMode = Literal["auto", "on", "off"]

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
#: Seconds to wait for the next piece of a request body before giving up on it.
BODY_TIMEOUT = 60.0
#: Seconds between two looks of a disconnect watch at whether it is still wanted.
WATCH_POLL = 1.0


def message_to_scope(message: Message, state: dict[str, Any] | None = None) -> Scope:
    """The ASGI ``http`` scope of an ``http.request`` message. ``path`` holds the
    root path too, as uvicorn and Daphne give it (``root_path`` says what to strip)."""
    content = message.content
    root_path = content.get("root_path", "")
    client, server = content.get("client"), content.get("server")
    scope: Scope = {
        "type": "http",
        "asgi": ASGI_VERSION,
        "http_version": content.get("http_version", "1.1"),
        "method": content["method"],
        "scheme": content.get("scheme", "http"),
        "path": root_path + content["path"],
        "raw_path": None,
        "query_string": content.get("query_string", b""),
        "root_path": root_path,
        "headers": [(bytes(name), bytes(value)) for name, value in content.get("headers", ())],
        "client": tuple(client) if client else None,
        "server": tuple(server) if server else None,
    }
    if state is not None:
        scope["state"] = dict(state)  # a shallow copy per request, as the spec asks
    return scope


def slices(data: bytes) -> Iterator[bytes]:
    """``data`` in pieces that each fit one reply message (at least one piece)."""
    yield data[:CHUNK]
    for start in range(CHUNK, len(data), CHUNK):
        yield data[start : start + CHUNK]


class _Exchange:
    """One request: ``receive`` and ``send`` for the application, over the layer."""

    def __init__(self, message: Message) -> None:
        self.message = message
        self.body_channel: str | None = message.content.get("body_channel")
        self.first_body = True
        self.status: int | None = None
        self.headers: list[list[bytes]] = []
        self.responding = False  # the first reply (status and headers) is sent
        self.complete = asyncio.Event()  # the last reply is sent: nothing more to do
        self.gone = asyncio.Event()  # the client left before the end
        self.watch: _DisconnectWatch | None = None

    async def receive(self) -> Event:
        if self.first_body:
            self.first_body = False
            more = self.body_channel is not None
            return {"type": "http.request", "body": self.message["body"], "more_body": more}
        if self.body_channel is not None:
            return await self._next_chunk(self.body_channel)
        if not self.complete.is_set() and self.watch is None:
            watch = await self._watch()  # a long poll waits here: hear of a disconnect
            await self.message.reply({"notify_disconnect": watch.channel})
        ended = [asyncio.ensure_future(e.wait()) for e in (self.complete, self.gone)]
        _, waiting = await asyncio.wait(
            ended, timeout=self._left_to_wait(), return_when=asyncio.FIRST_COMPLETED
        )
        for task in waiting:
            task.cancel()
        return {"type": "http.disconnect"}

    def _left_to_wait(self) -> float | None:
        """Until the interface gives up on an unanswered request (it answers 503 then,
        and the client is as good as gone); no bound once the response has begun."""
        deadline = self.message.deadline
        if deadline is None or self.responding:
            return None
        return max(0.0, deadline - self.message.layer.clock(self.message.channel)) + 1.0

    async def _next_chunk(self, channel: str) -> Event:
        _, chunk = await self.message.layer.receive([channel], timeout=BODY_TIMEOUT)
        if chunk is None or chunk.get("error"):
            self.body_channel = None
            self.gone.set()  # nobody is there to answer
            return {"type": "http.disconnect"}
        if not chunk.get("more_content"):
            self.body_channel = None
        more = self.body_channel is not None
        return {"type": "http.request", "body": chunk["content"], "more_body": more}

    async def _watch(self) -> _DisconnectWatch:
        channel = await self.message.layer.new_channel("http.asgi")
        self.watch = _DisconnectWatch(self.message.layer, channel, self.gone)
        return self.watch

    async def send(self, event: Event) -> None:
        kind = event["type"]
        if self.gone.is_set():
            # ASGI 2.4: sending to a client that left raises, so a stream ends.
            raise OSError("the client disconnected")
        if self.complete.is_set():
            if kind == "http.response.body":
                raise RuntimeError("the response is complete; nothing more can be sent")
            return
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("http.response.start sent twice")
            self.status = int(event["status"])
            self.headers = [[bytes(n).lower(), bytes(v)] for n, v in event.get("headers", ())]
        elif kind == "http.response.body":
            await self._body(bytes(event.get("body", b"")), bool(event.get("more_body")))

    async def _body(self, data: bytes, more: bool) -> None:
        if self.status is None:
            raise RuntimeError("http.response.body sent before http.response.start")
        if more and not data:
            return  # nothing to write yet
        pieces = list(slices(data))
        for index, piece in enumerate(pieces):
            reply: dict[str, Any] = {
                "content": piece,
                "more_content": more or index < len(pieces) - 1,
            }
            if not self.responding:
                reply.update(status=self.status, headers=self.headers)
                self.responding = True
                if reply["more_content"] and self.watch is None:
                    watch = await self._watch()  # a stream: hear when its client leaves
                    reply["notify_disconnect"] = watch.channel
            await self.message.reply(reply)
        if not more:
            self.complete.set()

    async def finish(self) -> None:
        """The application returned: end what it left open."""
        if self.watch is not None:
            self.watch.stop()
        if self.complete.is_set() or self.gone.is_set():
            return
        if self.status is None:
            raise RuntimeError("the ASGI application returned without starting a response")
        await self._body(b"", more=False)


class _DisconnectWatch:
    """Waits on a channel of this process for the interface's ``http.disconnect``.

    It looks again every second rather than being cancelled: a receive cancelled
    mid-way could take another request's notice with it.
    """

    _running: ClassVar[set[asyncio.Task[None]]] = set()

    def __init__(self, layer: Any, channel: str, gone: asyncio.Event) -> None:
        self.layer = layer
        self.channel = channel
        self.gone = gone
        self.stopped = False
        task = asyncio.get_running_loop().create_task(self._run(), name=f"watch {channel}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self) -> None:
        while not self.stopped:
            try:
                _, notice = await self.layer.receive([self.channel], timeout=WATCH_POLL)
            except (ConnectionError, OSError) as exc:
                log.debug("cannot watch %s: %s", self.channel, exc)
                return
            if notice is not None:
                self.gone.set()
                return

    def stop(self) -> None:
        self.stopped = True


class Lifespan:
    """The application's ``lifespan`` scope: started once per process however many
    workers share it, ended when the last of them stops."""

    def __init__(self, app: ASGIApp, mode: LifespanMode) -> None:
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] | None = None
        self._users = 0
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._answers: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._started: asyncio.Future[None] | None = None

    async def startup(self) -> None:
        """Start the application's lifespan, or wait for the worker that started it:
        every worker of the process fails if the start-up failed."""
        self._users += 1
        if self.mode == "off":
            return
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        state: dict[str, Any] = {}
        scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": state}
        self._task = asyncio.get_running_loop().create_task(self._run(scope), name="asgi lifespan")
        answer = await self._ask({"type": "lifespan.startup"})
        if answer is None:
            return
        if answer["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"ASGI lifespan startup failed: {answer.get('message', '')}")
        self.state = state

    async def shutdown(self) -> None:
        self._users -= 1
        if self._users > 0 or self._task is None or self.state is None:
            return
        answer = await self._ask({"type": "lifespan.shutdown"})
        if answer is not None and answer["type"] == "lifespan.shutdown.failed":
            log.error("ASGI lifespan shutdown failed: %s", answer.get("message", ""))
        self._task = None

    async def _ask(self, event: Event) -> Event | None:
        """Send ``event``; the application's answer, or None when it has no lifespan."""
        assert self._task is not None
        await self._events.put(event)
        answer = asyncio.ensure_future(self._answers.get())
        await asyncio.wait([answer, self._task], return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return answer.result()
        answer.cancel()
        return None

    async def _run(self, scope: Scope) -> None:
        try:
            await self.app(scope, self._events.get, self._answers.put)
        except Exception:
            if self.mode == "on":
                log.exception("ASGI lifespan failed")
                await self._answers.put({"type": "lifespan.startup.failed"})
            else:
                log.info("the ASGI application does not support lifespan; going on without")


class AsgiConsumer:
    """An ``http.request`` consumer serving an ASGI 3 application (see the module)."""

    def __init__(self, app: ASGIApp, lifespan: LifespanMode = "auto") -> None:
        self.app = app
        self.lifespan = Lifespan(app, lifespan)
        self.__name__ = f"asgi_consumer({getattr(app, '__name__', type(app).__name__)})"

    async def __call__(self, message: Message, **kwargs: Any) -> None:
        exchange = _Exchange(message)
        scope = message_to_scope(message, self.lifespan.state)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception as exc:
            if not exchange.gone.is_set():
                raise
            # What a send to a departed client raises (Starlette's ClientDisconnect).
            log.info("%s %s: the client left (%r)", scope["method"], scope["path"], exc)
        await exchange.finish()


def asgi_consumer(app: ASGIApp, *, lifespan: LifespanMode = "auto") -> AsgiConsumer:
    """``app`` as an ``http.request`` consumer. ``lifespan``: ``"auto"`` runs the
    application's lifespan when it has one, ``"on"`` requires it, ``"off"`` skips it."""
    return AsgiConsumer(app, lifespan)
