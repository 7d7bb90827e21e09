from channels.routing import route

from bench_c1 import consumers

channel_routing = [
    route("http.request", consumers.http_hello),
    route("websocket.connect", consumers.ws_connect),
    route("websocket.receive", consumers.ws_receive),
    route("websocket.disconnect", consumers.ws_disconnect),
]
