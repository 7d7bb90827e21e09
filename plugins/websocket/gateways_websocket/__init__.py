"""gateways WebSocket interface plugin: WebSockets on the HTTP plugin's port, framed by
autobahn, carried as ``websocket.*`` messages. See docs/websocket.md."""
