"""The README's example app: `gateways serve --plugin http examples.hello:routes`.

Try http://127.0.0.1:8000/hello/you, or POST text to http://127.0.0.1:8000/echo.
"""

from gateways import route


async def hello(message, name):
    await message.reply(
        {
            "status": 200,
            "headers": [[b"content-type", b"text/plain; charset=utf-8"]],
            "content": f"hello {name}\n".encode(),
        }
    )


def echo(message):
    # A sync consumer: it runs in a thread and its calls block.
    message.reply(
        {
            "status": 200,
            "headers": [[b"content-type", b"application/octet-stream"]],
            "content": message["body"],
        }
    )


routes = [
    route("http.request", hello, path=r"^/hello/(?P<name>[^/]+)$"),
    route("http.request", echo, path=r"^/echo$", method=r"^POST$"),
]
