"""Routes for the Redis high-availability tests: HTTP answers naming the worker, and
every ``email.receive`` logged as ``email app got {json}`` (durable: at least once)."""

from __future__ import annotations

from email_app import got
from redis_app import whoami

from gateways import route

routes = [
    route("http.request", whoami, path=r"^/whoami$"),
    route("email.receive", got),
]
