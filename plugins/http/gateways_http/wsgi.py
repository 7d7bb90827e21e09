"""WSGI bridges, both ways.

* :class:`ChannelLayerWSGIApp` is a WSGI application that forwards each request to the
  channel layer as ``http.request`` and returns the consumer's reply, so gunicorn or
  uWSGI can be the interface server of a Redis-backed deployment (workers run with
  ``gateways worker``).
* :func:`wsgi_consumer` turns any WSGI application into an ``http.request`` consumer:
  ``route("http.request", wsgi_consumer(flask_app))``.

Both speak the same messages as the Twisted interface (design section 7): bodies over
``body_channel`` in chunks, streamed replies with ``more_content``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any, cast

from gateways.plugin import (
    DEADLINE_KEY,
    BaseChannelLayer,
    ChannelFull,
    Host,
    Interface,
    Settings,
    printable,
)
from gateways_http.body import CHUNK
from gateways_http.message import BODY_CHANNEL_PREFIX, DISCONNECT_CHANNEL, REQUEST_CHANNEL
from gateways_http.request import filter_headers, strip_root
from gateways_http.response import BadResponse, check_content, check_headers, check_status

log = logging.getLogger("gateways.http.wsgi")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
StartResponse = Callable[..., Any]

# -- environ <-> message ------------------------------------------------------------------


def _wsgi_str(raw: bytes) -> str:
    """PEP 3333 "bytes as str": latin-1 decoded bytes."""
    return raw.decode("latin-1")


def message_to_environ(message: dict[str, Any], body: bytes) -> dict[str, Any]:
    """A WSGI environ for an ``http.request`` message whose whole body is ``body``."""
    server = message.get("server") or ["localhost", 80]
    client = message.get("client")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": message["method"],
        "SCRIPT_NAME": _wsgi_str(message.get("root_path", "").encode("utf-8")),
        "PATH_INFO": _wsgi_str(message["path"].encode("utf-8")),
        "QUERY_STRING": _wsgi_str(message.get("query_string", b"")),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": "HTTP/" + message.get("http_version", "1.1"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": message.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = str(client[0]), str(client[1])
    for name, value in message.get("headers", ()):
        key = _wsgi_str(name).upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        text = _wsgi_str(value)
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    environ.setdefault("CONTENT_LENGTH", str(len(body)) if body else "")
    return environ


def environ_to_message(
    environ: dict[str, Any], reply_channel: str, root_path: str = ""
) -> dict[str, Any]:
    """The ``http.request`` fields of a WSGI request (body fields left to the caller)."""
    raw_headers = [
        (key[5:].replace("_", "-").lower().encode("latin-1"), value.encode("latin-1"))
        for key, value in environ.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    ]
    for key, name in (("CONTENT_TYPE", b"content-type"), ("CONTENT_LENGTH", b"content-length")):
        if environ.get(key):
            raw_headers.append((name, environ[key].encode("latin-1")))
    root = root_path or environ.get("SCRIPT_NAME", "")
    # PATH_INFO is already percent-decoded, as bytes in latin-1 (PEP 3333).
    raw_path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1")
    path = raw_path.decode("utf-8", errors="replace")
    remote = environ.get("REMOTE_ADDR")
    return {
        "reply_channel": reply_channel,
        "http_version": environ.get("SERVER_PROTOCOL", "HTTP/1.1").partition("/")[2] or "1.1",
        "method": environ["REQUEST_METHOD"].upper(),
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": strip_root(path, root),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": root,
        "headers": filter_headers(raw_headers),
        "client": [remote, int(environ.get("REMOTE_PORT") or 0)] if remote else None,
        "server": [environ.get("SERVER_NAME", ""), int(environ.get("SERVER_PORT") or 0)],
    }


def status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


# -- WSGI server -> channel layer -------------------------------------------------------------


class _Replies(Interface):
    """The bridge's reply loop: the SDK's own, with no listener (gunicorn listens)."""

    name = "http.wsgi"
    reply_prefix = "http.response"


class _LoopThread:
    """An event loop in a daemon thread, with the layer and the one reply loop on it."""

    def __init__(self, layer: str | Callable[[], BaseChannelLayer]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="wsgi-layer")
        self.thread.start()
        self.layer: BaseChannelLayer = self.run(self._make_layer(layer))
        self.replies: _Replies = self.run(self._start_replies())

    @staticmethod
    async def _make_layer(layer: str | Callable[[], BaseChannelLayer]) -> BaseChannelLayer:
        if callable(layer):
            return layer()
        from gateways.layers import get_layer

        return get_layer(layer)

    async def _start_replies(self) -> _Replies:
        # No serving host here: the reply loop needs only the layer.
        host = SimpleNamespace(layer=self.layer, settings=Settings({}))
        replies = _Replies(cast(Host, host))
        await replies.start()
        return replies

    def reply_channel(self, callback: Callable[[dict[str, Any]], None]) -> str:
        """A fresh reply channel whose messages go to ``callback`` (any thread)."""
        return self.replies.reply_channel(callback)

    def forget(self, channel: str) -> None:
        """Drop ``channel``'s replies from now on (any thread)."""
        self.loop.call_soon_threadsafe(self.replies.forget, channel)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


class ChannelLayerWSGIApp:
    """A WSGI application whose requests are answered by gateways workers.

    ``layer`` is a layer URL (``redis://host:6379/0``) or a callable returning a layer.
    Each WSGI process (gunicorn forks) starts its own loop thread on first use.
    """

    def __init__(
        self,
        layer: str | Callable[[], BaseChannelLayer],
        timeout: float = 120.0,
        root_path: str = "",
    ) -> None:
        self._layer = layer
        self.timeout = timeout
        self.root_path = root_path.rstrip("/")
        self._bridge: _LoopThread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def bridge(self) -> _LoopThread:
        with self._lock:
            if self._bridge is None or self._pid != os.getpid():
                self._bridge, self._pid = _LoopThread(self._layer), os.getpid()
            return self._bridge

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        bridge = self.bridge()
        replies: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        channel = bridge.reply_channel(replies.put)
        try:
            first = self._send_request(bridge, environ, channel, replies)
            if first is None:
                return self._stock(start_response, 503, "the application did not answer")
            try:
                status = check_status(first.get("status"))
                headers = [
                    (_wsgi_str(n), _wsgi_str(v)) for n, v in check_headers(first.get("headers"))
                ]
                content = check_content(first.get("content"))
            except BadResponse as exc:
                path = printable(environ.get("PATH_INFO", ""))
                log.error("refused a reply to %s: %s", path, exc)
                return self._stock(start_response, 500, "the application sent an invalid response")
        except ChannelFull:
            return self._stock(
                start_response, 503, "server busy, retry soon", [("Retry-After", "1")]
            )
        except BaseException:
            bridge.forget(channel)
            raise
        start_response(
            status_text(status),
            [h for h in headers if h[0] not in ("connection", "transfer-encoding")],
        )
        return self._body(bridge, channel, replies, content, bool(first.get("more_content")))

    def _send_request(
        self,
        bridge: _LoopThread,
        environ: dict[str, Any],
        channel: str,
        replies: queue.SimpleQueue[dict[str, Any]],
    ) -> dict[str, Any] | None:
        message = environ_to_message(environ, channel, self.root_path)
        stream = environ["wsgi.input"]
        body = stream.read(CHUNK)
        following = stream.read(CHUNK) if len(body) == CHUNK else b""
        message["body"] = body
        message["body_channel"] = BODY_CHANNEL_PREFIX + os.urandom(10).hex() if following else None
        # Workers drop it unrun once this bridge has given up on it (503), as the
        # interface's: --http-timeout counts from the request, not from its body's end.
        margin = min(1.0, self.timeout / 10)
        message[DEADLINE_KEY] = bridge.layer.clock(REQUEST_CHANNEL) + self.timeout - margin
        give_up = time.monotonic() + self.timeout
        bridge.run(bridge.layer.send(REQUEST_CHANNEL, message))
        while following:
            data, following = following, stream.read(CHUNK)
            content = {"content": data, "more_content": bool(following)}
            bridge.run(bridge.layer.send(message["body_channel"], content))
        try:
            return replies.get(timeout=max(0.0, give_up - time.monotonic()))
        except queue.Empty:
            bridge.forget(channel)
            return None

    def _body(
        self,
        bridge: _LoopThread,
        channel: str,
        replies: queue.SimpleQueue[dict[str, Any]],
        content: bytes,
        more: bool,
    ) -> Iterator[bytes]:
        """Yield the reply's content as it arrives; a client that leaves early (the
        server closes this generator) becomes ``http.disconnect``."""
        finished = False
        try:
            if content:
                yield content
            while more:
                try:
                    reply = replies.get(timeout=self.timeout)
                except queue.Empty:
                    log.warning("streamed reply on %s stalled; ending the response", channel)
                    return
                if reply.get("abort"):
                    raise ConnectionAbortedError("the application aborted its response")
                more = bool(reply.get("more_content"))
                data = check_content(reply.get("content"))
                if data:
                    yield data
            finished = True
        finally:
            bridge.forget(channel)
            if not finished:
                disconnect = {"reply_channel": channel, "path": ""}
                asyncio.run_coroutine_threadsafe(
                    bridge.layer.send(DISCONNECT_CHANNEL, disconnect), bridge.loop
                )

    @staticmethod
    def _stock(
        start_response: StartResponse,
        status: int,
        text: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        body = (text + "\n").encode()
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ]
        start_response(status_text(status), headers + (extra or []))
        return [body]


# -- channel layer -> WSGI application ---------------------------------------------------------


def read_body(message: Any) -> bytes:
    """The whole request body, reading ``body_channel`` when there is one (blocking)."""
    parts = [message["body"]]
    channel = message.get("body_channel")
    more = channel is not None
    while more:
        _, chunk = message.layer.receive([channel], timeout=60)
        if chunk is None:
            raise TimeoutError(f"the rest of the request body never came on {channel}")
        if chunk.get("error"):  # cut off: the client left, or the body was refused
            raise ConnectionAbortedError(f"the request body was cut off: {chunk['error']}")
        parts.append(chunk["content"])
        more = chunk["more_content"]
    return b"".join(parts)


def wsgi_consumer(app: WSGIApp) -> Callable[..., None]:
    """An ``http.request`` consumer that serves ``app`` (runs in a worker thread)."""

    def consumer(message: Any, **kwargs: Any) -> None:
        environ = message_to_environ(message.content, read_body(message))
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            if exc_info and started and started[0] is not None:
                raise exc_info[1].with_traceback(exc_info[2])
            code = int(status.split(None, 1)[0])
            started[:] = [
                code,
                [[n.lower().encode("latin-1"), v.encode("latin-1")] for n, v in headers],
            ]
            return lambda data: None  # the legacy write() callable: unsupported, ignored

        result = app(environ, start_response)
        try:
            _reply_from(message, result, started)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    consumer.__name__ = f"wsgi_consumer({getattr(app, '__name__', type(app).__name__)})"
    consumer.__qualname__ = consumer.__name__
    return consumer


def _reply_from(message: Any, result: Iterable[bytes], started: list[Any]) -> None:
    """Send the app's body: a list in as few messages as fit, a generator piece by
    piece as it yields (so streaming apps stream)."""
    pieces: Iterable[bytes] = [b"".join(result)] if isinstance(result, list | tuple) else result
    sender = _Sender(message, started)
    previous: bytes | None = None
    for piece in pieces:
        if not piece:
            continue
        if previous is not None:
            sender.send(previous, more=True)
        previous = piece
    sender.send(previous or b"", more=False)


class _Sender:
    """Replies in slices under the layer's message limit; the first carries the status."""

    def __init__(self, message: Any, started: list[Any]) -> None:
        self.message = message
        self.started = started
        self.streaming = False

    def send(self, data: bytes, more: bool) -> None:
        if not self.started:
            raise RuntimeError("the WSGI application returned without calling start_response")
        while True:
            part, data = data[:CHUNK], data[CHUNK:]
            last = not data
            reply: dict[str, Any] = {"content": part, "more_content": more or not last}
            if not self.streaming:
                reply.update(status=self.started[0], headers=self.started[1])
                self.streaming = True
            self.message.reply(reply)
            if last:
                return
