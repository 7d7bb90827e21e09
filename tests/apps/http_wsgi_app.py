"""WSGI applications served as ``http.request`` consumers through ``wsgi_consumer``: a
real Flask app and a plain WSGI callable."""

from __future__ import annotations

import hashlib
import json

from flask import Flask, Response, request
from gateways_http.wsgi import wsgi_consumer

from gateways import route

flask_app = Flask("http_wsgi_app")


@flask_app.get("/flask/hello/<name>")
def hello(name):
    return f"hello {name} from flask"


@flask_app.post("/flask/upload")
def upload():
    data = request.get_data()
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "type": request.content_type}  # fmt: skip


@flask_app.get("/flask/stream")
def stream():
    return Response((f"line {i}\n" for i in range(3)), mimetype="text/plain")


@flask_app.get("/flask/big")
def big():
    return b"z" * (3 * 1024 * 1024)


@flask_app.get("/flask/boom")
def boom():
    raise RuntimeError("flask view failed")


def plain_app(environ, start_response):
    """A bare WSGI callable: reports what it was given."""
    keys = [
        *("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL"),
        *("REMOTE_ADDR", "CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_X_THING", "wsgi.url_scheme"),
    ]
    seen = {key: environ.get(key) for key in keys}
    seen["body"] = environ["wsgi.input"].read().decode("latin-1")
    body = json.dumps(seen).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Plain", "yes")])
    return [body]


def broken_app(environ, start_response):
    raise ValueError("plain app failed")


routes = [
    route("http.request", wsgi_consumer(flask_app), path=r"^/flask/"),
    route("http.request", wsgi_consumer(plain_app), path=r"^/plain"),
    route("http.request", wsgi_consumer(broken_app), path=r"^/broken"),
]
