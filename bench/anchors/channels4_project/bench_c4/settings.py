"""Minimal Django 5.2 settings for the Channels 4 anchor (no database, no templates)."""

import os

SECRET_KEY = "bench-anchor-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = ["channels"]
MIDDLEWARE = []
ROOT_URLCONF = "bench_c4.urls"
DATABASES = {}
USE_TZ = True

ASGI_APPLICATION = "bench_c4.asgi.application"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# BENCH_C4_LAYER=core (default: channels_redis.core.RedisChannelLayer, lists + BZPOPMIN)
#               =pubsub (channels_redis.pubsub.RedisPubSubChannelLayer)
_LAYER = os.environ.get("BENCH_C4_LAYER", "core")
_BACKENDS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
if _LAYER not in _BACKENDS:
    raise RuntimeError(f"BENCH_C4_LAYER must be one of {sorted(_BACKENDS)}, not {_LAYER!r}")

# TRAP (channels_redis 4.3.0 + redis-py 8.x): redis-py 8 defaults socket_timeout=5 s, and
# channels_redis' core layer blocks in BZPOPMIN for brpop_timeout=5 s. Any consumer idle
# for ~5 s then gets redis.exceptions.TimeoutError in receive() and the websocket is closed
# with 1011. redis-py <= 7 defaulted to no socket timeout, which channels_redis was written
# for: restore that (override with BENCH_C4_REDIS_SOCKET_TIMEOUT=<seconds>).
_SOCKET_TIMEOUT = os.environ.get("BENCH_C4_REDIS_SOCKET_TIMEOUT", "none")
_SOCKET_TIMEOUT = None if _SOCKET_TIMEOUT.lower() == "none" else float(_SOCKET_TIMEOUT)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _BACKENDS[_LAYER],
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": _SOCKET_TIMEOUT}]},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
