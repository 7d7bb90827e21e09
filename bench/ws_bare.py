"""The floor of the WebSocket benchmark: a bare ``websockets`` server doing the fan-out
itself, with no layer, no worker and no framework between the trigger and the sockets.

    .venv/bin/python bench/ws_bare.py [--host 127.0.0.1] [--port 0]

Every socket joins one set on connect. A text ``broadcast:<text>`` sends ``<text>`` to
every socket held (``websockets.broadcast``: one frame, written to each); any other
message is echoed. Prints ``listening on ws://HOST:PORT`` once it accepts connections.
What bench/websocket_bench.py measures against it is what the client process itself can
receive: the latency no server can beat on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from websockets import broadcast
from websockets.asyncio.server import ServerConnection, serve

PREFIX = "broadcast:"


async def run(host: str, port: int) -> None:
    members: set[ServerConnection] = set()

    async def handler(socket: ServerConnection) -> None:
        members.add(socket)
        try:
            async for message in socket:
                if isinstance(message, str) and message.startswith(PREFIX):
                    broadcast(members, message[len(PREFIX) :])
                else:
                    await socket.send(message)
        finally:
            members.discard(socket)

    # No pings (the benchmark's clients send none either) and no compression: the
    # gateways and Channels servers negotiate none with these clients.
    async with serve(
        handler, host, port, ping_interval=None, compression=None, max_queue=None
    ) as server:
        bound = server.sockets[0].getsockname()
        print(f"listening on ws://{bound[0]}:{bound[1]}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
