"""The WSGI application gunicorn serves in the bridge test: every request goes to the
channel layer named by HTTP_BRIDGE_LAYER and is answered by a ``gateways worker``."""

from __future__ import annotations

import os

from gateways_http.wsgi import ChannelLayerWSGIApp

application = ChannelLayerWSGIApp(
    os.environ["HTTP_BRIDGE_LAYER"], timeout=float(os.environ.get("HTTP_BRIDGE_TIMEOUT", "120"))
)
