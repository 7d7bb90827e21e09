"""A listener at the file-descriptor limit says so (gateways/acceptwatch.py): a real
``gateways serve`` under a low RLIMIT_NOFILE, filled with real connections."""

from __future__ import annotations

import asyncio
import errno
import socket
import sys

from gateways.acceptwatch import ASYNCIO_FAILED, AcceptWatch, watching

LIMIT = 64
#: ``python -c`` with the soft limit lowered before gateways starts.
LIMITED = [
    sys.executable,
    "-c",
    "import resource, runpy, sys; "
    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({LIMIT}, {LIMIT})); "
    "runpy.run_module('gateways', run_name='__main__', alter_sys=True)",
]
WARNING = r"WARNING gateways.host: accept failed: too many open files \(limit 64\)"
AGAIN = r"INFO gateways.host: accepting connections again"


def answered(port: int) -> socket.socket | None:
    """A keep-alive connection that got its response, or None if the server closed it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
    try:
        head = sock.recv(65536)
    except ConnectionResetError:
        head = b""
    if head.startswith(b"HTTP/1.1 200"):
        return sock
    sock.close()
    assert head == b"", head  # refused: closed without a byte
    return None


def test_accepts_failing_at_the_fd_limit_are_logged_once_and_their_end_too(gateways_process):
    server = gateways_process(
        "serve", "http_app:routes", "--plugin", "http", "--http-port", "0", program=LIMITED
    )
    port = server.port("http")
    held: list[socket.socket] = []
    refused = 0
    try:
        while refused < 20:  # past the limit, then a good many more tries
            sock = answered(port)
            if sock is None:
                refused += 1
            else:
                assert not refused, "an accept succeeded while the limit was reached"
                held.append(sock)
            assert len(held) < LIMIT, "the server never reached its limit"
        server.wait_for(WARNING)
        assert len([line for line in server.lines if "accept failed" in line]) == 1
        mark = len(server.lines)
    finally:
        for sock in held:
            sock.close()
    server.wait_for(AGAIN + r": 2\d refused", start=mark)
    again = answered(port)
    assert again is not None, server.output
    again.close()
    assert "Traceback" not in server.output


def test_an_episode_whose_warning_was_throttled_ends_quietly():
    now = [0.0]
    watch = AcceptWatch(probe=lambda: True, clock=lambda: now[0])
    watch.failed("EMFILE")
    assert watch.warned and watch.failing
    now[0] = 2.0
    watch.check()
    assert not watch.failing
    now[0] = 3.0  # a minute has not passed: the next episode's warning is held back
    watch.failed("EMFILE")
    assert not watch.warned
    now[0] = 5.0
    watch.check()
    assert not watch.failing


async def test_asyncio_listeners_failed_accepts_reach_the_watch_not_the_traceback_log(caplog):
    """aiosmtpd and other asyncio servers: asyncio hands accept failures to the loop's
    exception handler (with a traceback, once a second); the watch takes them instead."""
    loop = asyncio.get_running_loop()
    others: list[dict] = []
    loop.set_exception_handler(lambda loop, context: others.append(context))
    try:
        with watching(loop) as watch:
            too_many = OSError(errno.EMFILE, "Too many open files")
            loop.call_exception_handler({"message": ASYNCIO_FAILED, "exception": too_many})
            loop.call_exception_handler({"message": "something else"})
            assert watch.failing and watch.refused == 1
            assert [c["message"] for c in others] == ["something else"]
    finally:
        loop.set_exception_handler(None)
    assert "accept failed: too many open files (limit" in caplog.text
