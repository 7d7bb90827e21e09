"""Channels 1 consumers: raw reply dicts, no Django view layer (the cheapest Channels 1 path)."""

HELLO = {
    "status": 200,
    "headers": [[b"content-type", b"text/plain"]],
    "content": b"hello",
}


def http_hello(message):
    message.reply_channel.send(HELLO)


def ws_connect(message):
    message.reply_channel.send({"accept": True})


def ws_receive(message):
    text = message.content.get("text")
    if text is not None:
        message.reply_channel.send({"text": text})
    else:
        message.reply_channel.send({"bytes": message.content.get("bytes") or b""})


def ws_disconnect(message):
    pass
