"""``--loop``: which event loop ``serve`` and ``worker`` run on (uvloop when installed,
by default), from the flag, the environment or the file, and the loop each reports."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import uvloop

from gateways.config import ConfigError
from gateways.reactor import event_loop, loop_factory, loop_name

LOOP_LINE = r"event loop: (\w+)"


def test_the_choices_convert_and_a_bad_one_is_refused():
    assert [event_loop(text) for text in ("auto", "UVLOOP", " asyncio ")] == [
        "auto",
        "uvloop",
        "asyncio",
    ]
    with pytest.raises(ValueError, match="auto, asyncio, uvloop"):
        event_loop("trio")


def test_auto_is_uvloop_when_installed_and_asyncio_is_the_standard_loop():
    for choice, kind in (("auto", uvloop.Loop), ("uvloop", uvloop.Loop)):
        loop = loop_factory(choice)()
        try:
            assert isinstance(loop, kind) and loop_name(loop) == "uvloop"
        finally:
            loop.close()
    loop = loop_factory("asyncio")()
    try:
        assert type(loop) is type(asyncio.new_event_loop()) and loop_name(loop) == "asyncio"
    finally:
        loop.close()


def test_a_missing_uvloop_is_a_settings_error(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "uvloop", None)  # as if not installed
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        loop_factory("uvloop")
    assert loop_name(loop_factory("auto")()) == "asyncio"  # auto falls back


def _serve(gateways_process, *flags, **kwargs):
    return gateways_process("serve", "http_app:routes", "--plugin", "http", "--http-port", "0",
                            *flags, **kwargs)  # fmt: skip


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_serve_answers_http_on_either_loop(gateways_process, loop):
    process = _serve(gateways_process, "--loop", loop)
    assert process.wait_for(LOOP_LINE)[1] == loop
    host, port = process.address("http")
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as client:
        assert client.get("/hello").text == "hello"
        echoed = client.post("/echo", content=b"x" * 300_000).json()  # a streamed body
        assert echoed["body_length"] == 300_000
        assert client.get("/stream/3").text == "part 0\npart 1\npart 2\n"  # chunked
    assert process.stop() == 0


def test_the_default_is_uvloop_and_the_environment_or_file_can_choose(gateways_process, tmp_path):
    assert _serve(gateways_process).wait_for(LOOP_LINE)[1] == "uvloop"
    by_env = _serve(gateways_process, env={"GATEWAYS_LOOP": "asyncio"})
    assert by_env.wait_for(LOOP_LINE)[1] == "asyncio"
    config = tmp_path / "gateways.toml"
    config.write_text('loop = "asyncio"\n')
    by_file = _serve(gateways_process, "--config", str(config))
    assert by_file.wait_for(LOOP_LINE)[1] == "asyncio"
    flag_wins = _serve(gateways_process, "--config", str(config), "--loop", "uvloop")
    assert flag_wins.wait_for(LOOP_LINE)[1] == "uvloop"


def test_a_bad_loop_stops_serve_with_a_usage_error(gateways_process):
    process = _serve(gateways_process, "--loop", "trio", ready=None)
    assert process.proc.wait(timeout=20) == 2
    assert any("--loop" in line and "trio" in line for line in process.lines)


def test_a_worker_runs_on_uvloop_over_redis(gateways_process, redis_layer_url):
    layer = ["--layer", redis_layer_url]
    worker = gateways_process("worker", "http_app:routes", *layer, "--loop", "uvloop",
                              ready="ready, receiving")  # fmt: skip
    assert worker.wait_for(LOOP_LINE)[1] == "uvloop"
    interface = gateways_process("serve", "--plugin", "http", "--http-port", "0", *layer)
    host, port = interface.address("http")
    assert httpx.get(f"http://{host}:{port}/hello", timeout=10).text == "hello"
    assert worker.stop() == 0 and interface.stop() == 0
