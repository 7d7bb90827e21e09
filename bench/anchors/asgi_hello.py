"""Bare ASGI 3 anchor app: the floor that any Python ASGI server can reach.

HTTP: every request (any method, any path) gets ``200 hello`` (text/plain); the request
body is read to the end first. WebSocket: every connection is accepted and each
message is echoed back (text as text, bytes as bytes). Lifespan is acknowledged.

Served by (cwd = bench/anchors, see launch.py):
    bench/.venvs/daphne4/bin/daphne -v 0 -b 127.0.0.1 -p PORT asgi_hello:app
    bench/.venvs/daphne4/bin/uvicorn asgi_hello:app --host 127.0.0.1 --port PORT \
        --http httptools --loop uvloop --ws websockets-sansio --no-access-log --log-level warning
No third-party imports: it runs on any Python 3.8+.
"""

BODY = b"hello"
HEADERS = [
    (b"content-type", b"text/plain"),
    (b"content-length", str(len(BODY)).encode("ascii")),
]


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "http":
        # Drain the request body (keeps keep-alive connections clean for POSTs).
        more = True
        while more:
            event = await receive()
            if event["type"] == "http.disconnect":
                return
            more = event.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
    elif kind == "websocket":
        while True:
            event = await receive()
            etype = event["type"]
            if etype == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif etype == "websocket.receive":
                if event.get("text") is not None:
                    await send({"type": "websocket.send", "text": event["text"]})
                else:
                    await send({"type": "websocket.send", "bytes": event.get("bytes") or b""})
            elif etype == "websocket.disconnect":
                return
    elif kind == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
