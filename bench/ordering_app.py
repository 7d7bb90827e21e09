"""The worker side of ``bench/ordering.py``: echo each message's number home."""

from gateways import route


async def echo(message):
    await message.reply({"n": message["n"]})


routes = [route("bench.ordered", echo)]
