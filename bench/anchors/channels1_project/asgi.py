"""Interface-server entry point for the Channels 1 anchor.

Run from this directory with the channels1 venv:
    REDIS_URL=redis://127.0.0.1:6379/0 ../../.venvs/channels1/bin/daphne -v 0 -b 127.0.0.1 -p 8000 asgi:channel_layer
    REDIS_URL=redis://127.0.0.1:6379/0 ../../.venvs/channels1/bin/python manage.py runworker
"""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_c1.settings")

from channels.asgi import get_channel_layer  # noqa: E402

channel_layer = get_channel_layer()
