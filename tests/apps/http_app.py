"""Routes for the HTTP tests: each consumer shows one behaviour the tests check."""

from __future__ import annotations

import asyncio
import json
import logging

from gateways import route

log = logging.getLogger("http_app")
TEXT = [[b"content-type", b"text/plain"]]


async def hello(message, **kwargs):
    await message.reply({"status": 200, "headers": TEXT, "content": b"hello"})


async def echo(message, **kwargs):
    """The request as the consumer sees it, as JSON (bytes as latin-1 text)."""
    body = message["body"]
    if message["body_channel"]:
        more = True
        parts = [body]
        while more:
            _, chunk = await message.layer.receive([message["body_channel"]], timeout=10)
            assert chunk is not None, "body chunk never came"
            parts.append(chunk["content"])
            more = chunk["more_content"]
        body = b"".join(parts)
    seen = {
        key: value.decode("latin-1") if isinstance(value, bytes) else value
        for key, value in message.content.items()
        if key not in ("headers", "body")
    }
    seen["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in message["headers"]]
    seen["body_length"] = len(body)
    seen["body_start"] = body[:64].decode("latin-1")
    content = json.dumps(seen).encode()
    await message.reply(
        {"status": 200, "headers": [[b"content-type", b"application/json"]], "content": content}
    )


async def explode(message):
    raise RuntimeError("consumer blew up")


async def stream(message, count="3"):
    await message.reply({"status": 200, "headers": TEXT, "content": b"", "more_content": True})
    for i in range(int(count)):
        await message.reply({"content": b"part %d\n" % i, "more_content": True})
    await message.reply({"content": b"", "more_content": False})


async def silent(message):
    """Never replies: the interface answers 503 after --http-timeout."""


routes = [
    route("http.request", hello, path=r"^/hello$"),
    route("http.request", echo, path=r"^/echo"),
    route("http.request", explode, path=r"^/explode$"),
    route("http.request", stream, path=r"^/stream/(?P<count>\d+)$"),
    route("http.request", silent, path=r"^/silent$"),
]


async def bad_header(message, kind):
    """Reply with a header that would split the response if written."""
    value = {"crlf": b"a\r\nx-injected: 1", "lf": b"a\nb", "nul": b"a\x00b"}.get(kind)
    headers = [[b"x-bad", value]] if value is not None else [[b"bad name", b"x"]]
    await message.reply({"status": 200, "headers": headers, "content": b"never"})


async def later(message, seconds):
    """Long-poll: the reply starts ``seconds`` after the request."""
    log.info("long-poll of %ss begins", seconds)
    await asyncio.sleep(float(seconds))
    await message.reply({"status": 200, "headers": TEXT, "content": b"late reply"})


async def events(message):
    """Server-sent events, one message at a time."""
    headers = [[b"content-type", b"text/event-stream"], [b"cache-control", b"no-cache"]]
    await message.reply({"status": 200, "headers": headers, "more_content": True})
    for i in range(3):
        await message.reply({"content": b"data: event %d\n\n" % i, "more_content": True})
        await asyncio.sleep(0.05)
    await message.reply({"content": b"", "more_content": False})


async def hang(message):
    """Starts a response and never finishes it (the client will leave)."""
    log.info("hang started for %s", message["reply_channel"])
    await message.reply({"status": 200, "headers": TEXT, "content": b"start", "more_content": True})


async def hold(message, seconds):
    """Keeps a worker slot busy for ``seconds`` (to fill the request channel behind it)."""
    log.info("holding a request")
    await asyncio.sleep(float(seconds))
    await message.reply({"status": 200, "headers": TEXT, "content": b"held"})


async def disconnected(message):
    log.info("http.disconnect for %s on %s", message["path"], message["reply_channel"])


async def explode_midway(message):
    await message.reply({"status": 200, "headers": TEXT, "content": b"begun", "more_content": True})
    raise RuntimeError("consumer blew up midway")


routes += [
    route("http.request", bad_header, path=r"^/badheader/(?P<kind>\w+)$"),
    route("http.request", later, path=r"^/later/(?P<seconds>[\d.]+)$"),
    route("http.request", events, path=r"^/events$"),
    route("http.request", hang, path=r"^/hang$"),
    route("http.request", hold, path=r"^/hold/(?P<seconds>[\d.]+)$"),
    route("http.request", explode_midway, path=r"^/explode-midway$"),
    route("http.disconnect", disconnected),
]


async def digest(message):
    """SHA-256 of the whole body, read from body_channel when there is one."""
    import hashlib

    sha, length = hashlib.sha256(message["body"]), len(message["body"])
    more = message["body_channel"] is not None
    while more:
        _, chunk = await message.layer.receive([message["body_channel"]], timeout=10)
        sha.update(chunk["content"])
        length += len(chunk["content"])
        more = chunk["more_content"]
    body = json.dumps({"sha256": sha.hexdigest(), "length": length}).encode()
    await message.reply({"status": 200, "content": body})


async def big(message, parts):
    piece = bytes(range(256)) * 2048  # 512 KiB per message
    await message.reply({"status": 200, "content": piece, "more_content": True})
    for _ in range(int(parts) - 1):
        await message.reply({"content": piece, "more_content": True})
    await message.reply({"more_content": False})


routes += [
    route("http.request", digest, path=r"^/digest$"),
    route("http.request", big, path=r"^/big/(?P<parts>\d+)$"),
]


async def slow_digest(message):
    """SHA-256 of the body, read a little slower than a local client sends it."""
    import hashlib

    sha, length = hashlib.sha256(message["body"]), len(message["body"])
    more = message["body_channel"] is not None
    while more:
        _, chunk = await message.layer.receive([message["body_channel"]], timeout=30)
        assert chunk is not None, "body chunk never came"
        sha.update(chunk["content"])
        length += len(chunk["content"])
        more = chunk["more_content"]
        await asyncio.sleep(0.01)  # the slow part of a slow consumer
    body = json.dumps({"sha256": sha.hexdigest(), "length": length}).encode()
    await message.reply({"status": 200, "content": body})


async def read_body(message):
    """Reads the body to its end and logs how the stream ended (cut off: its error)."""
    length, error = len(message["body"]), None
    more = message["body_channel"] is not None
    while more:
        _, chunk = await message.layer.receive([message["body_channel"]], timeout=30)
        if chunk is None:
            error = "no chunk within 30 s"
            break
        length += len(chunk["content"])
        more, error = chunk["more_content"], chunk.get("error")
    log.info("body of %s ended after %d bytes: %s", message["path"], length, error or "complete")
    await message.reply({"status": 200, "headers": TEXT, "content": b"%d" % length})


def record(message, token):
    """Appends ``token`` to the file $HTTP_APP_RECORD: which requests really ran."""
    import os

    with open(os.environ["HTTP_APP_RECORD"], "a") as out:
        out.write(token + "\n")
    message.reply({"status": 200, "headers": TEXT, "content": b"recorded " + token.encode()})


routes += [
    route("http.request", slow_digest, path=r"^/slow-digest$"),
    route("http.request", read_body, path=r"^/read-body$"),
    route("http.request", record, path=r"^/record/(?P<token>\w+)$"),
]
