"""``serve --reload`` and ``worker --reload``: the command runs in a child process that is
started again when a .py file changes; SIGTERM stops both, exit status 0."""

from __future__ import annotations

import os
import re
import signal
import urllib.request

import pytest

HELLO = """
from gateways import route

async def hello(message, **kwargs):
    await message.reply({{"status": 200, "content": b"{answer}"}})

routes = [route("http.request", hello)]
"""


def get(process, start: int) -> bytes:
    """GET / from the http listener the latest child (logged after ``start``) opened."""
    found = process.wait_for(r"listening on http://([\d.]+):(\d+)", start=start)
    url = f"http://{found[1]}:{found[2]}/"
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def child_pids(process) -> list[int]:
    return [
        int(m[1]) for m in re.finditer(r"started the \w+ process \(pid (\d+)\)", process.output)
    ]


def test_serve_reload_restarts_on_a_change_and_sigterm_stops_everything(gateways_process, tmp_path):
    app = tmp_path / "app.py"
    app.write_text(HELLO.format(answer="one"))
    args = ("serve", "--reload", "--plugin", "http", "app:routes", "--http-port", "0")
    process = gateways_process(*args, cwd=str(tmp_path))
    assert get(process, 0) == b"one"

    mark = len(process.lines)
    app.write_text("def broken(:\n")  # a mistake while editing: reported, not fatal
    process.wait_for(r"reloading: app\.py changed", start=mark)
    process.wait_for(r"exited with status 1; waiting for a change", start=mark)

    mark = len(process.lines)
    app.write_text(HELLO.format(answer="two"))
    process.wait_for(r"reloading: app\.py changed", start=mark)
    assert get(process, mark) == b"two"

    assert process.stop(signal.SIGTERM) == 0
    pids = child_pids(process)
    assert len(pids) == 3
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # every child was stopped and reaped


def test_a_file_outside_the_reload_dirs_changes_nothing(gateways_process, tmp_path):
    code, other = tmp_path / "code", tmp_path / "other"
    code.mkdir()
    other.mkdir()
    (code / "app.py").write_text(HELLO.format(answer="one"))
    process = gateways_process(
        "serve",
        "--reload",
        "--reload-dir",
        str(code),
        "--plugin",
        "http",
        "app:routes",
        "--http-port",
        "0",
        cwd=str(code),
    )
    mark = len(process.lines)
    (other / "elsewhere.py").write_text("x = 1\n")
    (code / "notes.txt").write_text("not python\n")
    (code / "helper.py").write_text("x = 2\n")  # this one is watched: the next line is its
    found = process.wait_for(r"reloading: (.*) changed", start=mark)
    assert found[1] == "helper.py"
    assert process.stop() == 0


def test_worker_reload_restarts_the_worker(gateways_process, tmp_path, redis_layer_url):
    app = tmp_path / "app.py"
    app.write_text(HELLO.format(answer="one"))
    args = ("worker", "app:routes", "--reload", "--layer", redis_layer_url)
    process = gateways_process(*args, cwd=str(tmp_path))
    mark = len(process.lines)
    app.write_text(HELLO.format(answer="two"))
    process.wait_for(r"reloading: app\.py changed", start=mark)
    process.wait_for(r"ready, receiving on http\.request", start=mark)
    assert process.stop(signal.SIGINT) == 0
    assert len(child_pids(process)) == 2


def test_reload_dir_must_exist(gateways_process, tmp_path):
    process = gateways_process(
        "serve",
        "--reload",
        "--reload-dir",
        str(tmp_path / "nope"),
        "--plugin",
        "http",
        "http_app:routes",
        ready=None,
    )
    assert process.wait() == 2
    assert "--reload-dir: no such directory" in process.output
