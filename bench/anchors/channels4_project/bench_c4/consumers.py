"""Channels 4 consumers for the broadcast anchor.

HTTP (AsyncHttpConsumer, so the request goes through Channels' consumer machinery):
    any path        -> 200 "hello" (text/plain)
    POST /broadcast -> group_send(GROUP, body as text), then 200 "sent"
WebSocket (any path): on connect join group GROUP ("bench") and accept. A text message
starting with "broadcast:" is group_sent (the rest of the text) to every member,
the sender included; any other message is echoed back to the sender only.
Group members receive broadcasts as plain text frames.
"""

from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

GROUP = "bench"
PREFIX = "broadcast:"
TEXT_PLAIN = [(b"content-type", b"text/plain")]


class HelloHttpConsumer(AsyncHttpConsumer):
    async def handle(self, body):
        if self.scope["path"] == "/broadcast" and self.scope["method"] == "POST":
            await self.channel_layer.group_send(
                GROUP, {"type": "bench.message", "text": body.decode("utf-8", "replace")}
            )
            await self.send_response(200, b"sent", headers=TEXT_PLAIN)
        else:
            await self.send_response(200, b"hello", headers=TEXT_PLAIN)


class BenchWebsocketConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is not None and text_data.startswith(PREFIX):
            await self.channel_layer.group_send(
                GROUP, {"type": "bench.message", "text": text_data[len(PREFIX) :]}
            )
        elif text_data is not None:
            await self.send(text_data=text_data)
        else:
            await self.send(bytes_data=bytes_data or b"")

    async def bench_message(self, event):
        await self.send(text_data=event["text"])
