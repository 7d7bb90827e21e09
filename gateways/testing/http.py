"""``HttpCommunicator``: one HTTP request through the consumers, no server.

It puts the ``http.request`` message the HTTP plugin would (design section 7) and
gathers the reply messages into a :class:`Response`: the start, then every
``{content, more_content}`` chunk until the last one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from gateways.layers import BaseChannelLayer
from gateways.testing.base import TIMEOUT, App, ApplicationCommunicator, ConsumerError

#: Header input: ``{"name": "value"}`` or ``[(name, value), ...]``, str or bytes.
Headers = Mapping[str, str] | Mapping[bytes, bytes] | Iterable[Sequence[str | bytes]]

BODY_CHANNEL_PREFIX = "http.request.body."


def _bytes(value: str | bytes) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else bytes(value)


def header_list(headers: Headers | None) -> list[list[bytes]]:
    """``[[name, value], ...]`` of bytes with lower-case names, as messages carry them."""
    pairs: Iterable[Sequence[str | bytes]]
    if headers is None:
        pairs = []
    elif isinstance(headers, Mapping):
        pairs = list(headers.items())
    else:
        pairs = headers
    return [[_bytes(name).lower(), _bytes(value)] for name, value in pairs]


@dataclass
class Response:
    """A whole HTTP response as the consumers gave it.

    Attributes:
        status: The status code.
        headers: ``[[name, value], ...]`` as sent (bytes).
        body: Every chunk's content joined.
        chunks: The content of each reply message, in order (the first one included):
            what a streaming or long-poll consumer sent piece by piece.
        messages: The reply messages themselves.
    """

    status: int
    headers: list[list[bytes]]
    body: bytes
    chunks: list[bytes] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def header(self, name: str | bytes) -> bytes | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = _bytes(name).lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")


class HttpCommunicator(ApplicationCommunicator):
    """One request to ``app``: ``response = await HttpCommunicator(routes, "GET",
    "/hello/x").get_response()``.

    ``scheme``, ``http_version``, ``root_path``, ``client`` and ``server`` give those
    keys of the message; ``layer``, ``raise_errors`` and ``timeout`` are those of
    :class:`ApplicationCommunicator`.

    Args:
        app: Routes, a router, ``module:attribute``, or one ``http.request`` consumer.
        method: The request method.
        path: The path, percent-encoded as on the wire; a ``?query`` part becomes
            ``query_string`` (unless given).
        body: The body; a list of chunks sends the first in ``body`` and the rest on a
            ``body_channel``, as the plugin does for a large body.
        headers: Request headers; ``content-length`` is added for a body if missing.
        query_string: The query (bytes, without ``?``).
    """

    channels = ("http.request",)
    reply_prefix = "http.response"

    def __init__(
        self,
        app: App,
        method: str = "GET",
        path: str = "/",
        body: bytes | Sequence[bytes] = b"",
        headers: Headers | None = None,
        *,
        query_string: bytes | None = None,
        scheme: str = "http",
        http_version: str = "1.1",
        root_path: str = "",
        client: tuple[str, int] | None = ("127.0.0.1", 51000),
        server: tuple[str, int] | None = ("127.0.0.1", 8000),
        layer: BaseChannelLayer | None = None,
        raise_errors: bool = True,
        timeout: float = TIMEOUT,
    ) -> None:
        super().__init__(app, layer=layer, raise_errors=raise_errors, timeout=timeout)
        raw_path, _, query = path.partition("?")
        self.method = method.upper()
        self.path = unquote(raw_path)
        self.query_string = query.encode("latin-1") if query_string is None else query_string
        self.body_chunks = [bytes(body)] if isinstance(body, bytes) else [bytes(c) for c in body]
        self.headers = header_list(headers)
        if any(self.body_chunks) and not any(
            name in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        ):
            size = sum(len(chunk) for chunk in self.body_chunks)
            self.headers.append([b"content-length", str(size).encode()])
        self.scheme = scheme
        self.http_version = http_version
        self.root_path = root_path
        self.client = list(client) if client else None
        self.server = list(server) if server else None
        self.sent_request: dict[str, Any] | None = None
        self.response: Response | None = None

    def request_message(self, reply_channel: str, body_channel: str | None) -> dict[str, Any]:
        """The ``http.request`` message (design section 7) this communicator sends."""
        return {
            "reply_channel": reply_channel,
            "http_version": self.http_version,
            "method": self.method,
            "scheme": self.scheme,
            "path": self.path,
            "query_string": self.query_string,
            "root_path": self.root_path,
            "headers": self.headers,
            "body": self.body_chunks[0] if self.body_chunks else b"",
            "body_channel": body_channel,
            "client": self.client,
            "server": self.server,
        }

    async def send_request(self) -> dict[str, Any]:
        """Send the request (once; :meth:`get_response` does it) and return it."""
        if self.sent_request is not None:
            return self.sent_request
        await self.start()
        assert self.reply_channel is not None
        rest = self.body_chunks[1:]
        body_channel = BODY_CHANNEL_PREFIX + secrets.token_hex(10) if rest else None
        self.sent_request = self.request_message(self.reply_channel, body_channel)
        await self.send_input("http.request", self.sent_request)
        for index, chunk in enumerate(rest):
            assert body_channel is not None
            more = index < len(rest) - 1
            await self.layer.send(body_channel, {"content": chunk, "more_content": more})
        return self.sent_request

    async def get_response(self, timeout: float | None = None) -> Response:
        """Send the request and wait for the whole response; then stop the worker
        (consumers still running finish first, so their other sends are recorded).

        Raises:
            TimeoutError: No complete response within ``timeout``.
            ConsumerError: The response was aborted (the consumer failed mid-way).
        """
        if self.response is not None:
            return self.response
        try:
            await self.send_request()
            first = await self.receive_output(timeout)
            messages = [first]
            while messages[-1].get("more_content"):
                messages.append(await self.receive_output(timeout))
        finally:
            await self.stop()
        if "status" not in first:
            raise ConsumerError(f"the first reply has no status: {first!r}")
        if any(m.get("abort") for m in messages):
            raise ConsumerError(f"the response was aborted after {len(messages) - 1} part(s)")
        chunks = [bytes(m.get("content", b"")) for m in messages]
        self.response = Response(
            status=int(first["status"]),
            headers=[list(pair) for pair in first.get("headers", [])],
            body=b"".join(chunks),
            chunks=chunks,
            messages=messages,
        )
        return self.response

    async def disconnect(self) -> None:
        """Say the client went away (``http.disconnect``), as for a long poll dropped
        before its response was complete."""
        request = await self.send_request()
        message = {"reply_channel": request["reply_channel"], "path": request["path"]}
        await self.send_input("http.disconnect", message)
