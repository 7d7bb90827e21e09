"""ASGI application for the Channels 4 anchor.

Run from bench/anchors/channels4_project with the daphne4 venv:
    REDIS_URL=redis://127.0.0.1:6379/0 ../../.venvs/daphne4/bin/daphne -v 0 \\
        -b 127.0.0.1 -p 8000 bench_c4.asgi:application
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_c4.settings")

import django

django.setup()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from bench_c4.consumers import BenchWebsocketConsumer, HelloHttpConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": HelloHttpConsumer.as_asgi(),
        "websocket": BenchWebsocketConsumer.as_asgi(),
    }
)
