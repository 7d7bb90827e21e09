"""Routes for the UDP example plugin's test: echo datagrams uppercased, or forward one.

``forward HOST PORT [text]`` puts ``text`` on ``udp.send`` for HOST:PORT and answers
``SENT``; a PORT that is not digits stays text and a missing text is None, so the test
can make bad ``udp.send`` messages. ``whoami`` answers the message's client and server;
``ignore`` gets no answer.
"""

from __future__ import annotations

import json
import logging

from gateways import route

log = logging.getLogger("udp_app")


async def datagram(message):
    data = message["data"]
    if data == b"ignore":
        log.info("ignoring a datagram")
        return
    if data == b"whoami":
        addresses = {"client": message["client"], "server": message["server"]}
        await message.reply({"data": json.dumps(addresses).encode()})
        return
    if not data.startswith(b"forward "):
        await message.reply({"data": data.upper()})
        return
    _, host, number, *text = data.split(b" ", 3)
    port = int(number) if number.isdigit() else number.decode()
    send = {"host": host.decode(), "port": port, "data": text[0] if text else None}
    await message.layer.send("udp.send", send)
    await message.reply({"data": b"SENT"})


routes = [route("udp.receive", datagram)]
