"""Minimal Django 2.2 settings for the Channels 1.1.8 anchor (no database, no templates)."""
import os

SECRET_KEY = "bench-anchor-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = ["channels"]
MIDDLEWARE = []
ROOT_URLCONF = "bench_c1.urls"
DATABASES = {}
USE_TZ = True

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            # asgi_redis defaults: expiry 60 s, capacity 100 per channel. A 50-connection
            # wrk run stays under 100 queued http.request messages.
        },
        "ROUTING": "bench_c1.routing.channel_routing",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
