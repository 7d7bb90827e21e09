"""The interface runtime every protocol plugin shares (``gateways.plugin.Interface``),
driven on the real memory and Redis layers."""

from __future__ import annotations

import asyncio
import logging
import socket
from types import SimpleNamespace
from typing import Any

import pytest

from gateways.config import Settings
from gateways.layers import get_layer
from gateways.plugin import Interface, StartFailed


class Echo(Interface):
    """Replies to an address's channel are collected; ``echo.send`` messages too."""

    name = "echo"
    reply_prefix = "echo.reply"
    consumes = ("echo.send",)
    concurrency = 2

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        self.handled: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.events: list[str] = []

    async def handle(self, channel: str, message: dict[str, Any]) -> None:
        if message.get("boom"):
            raise RuntimeError("handler failed")
        if message.get("hold"):
            await self.release.wait()
        self.handled.append(message)

    async def stop_accepting(self) -> None:
        self.events.append("stop_accepting")

    async def close_all(self) -> None:
        self.events.append(f"close_all with {self.outstanding()} outstanding")


@pytest.fixture(params=["memory", "redis"])
async def host(request):
    url = request.getfixturevalue(f"{request.param}_layer_url")
    layer = get_layer(url)
    yield SimpleNamespace(layer=layer, settings=Settings({}))
    await layer.flush()
    await layer.close()


async def wait_until(condition, timeout: float = 5.0) -> None:
    """Wait for state that the interface's own tasks change, failing at the deadline."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - no event to wait on in the code under test
            await asyncio.sleep(0.01)


async def test_reply_channels_reach_their_callback_until_forgotten(host, caplog):
    echo = Echo(host)
    await echo.start()
    got: list[Any] = []
    first = echo.reply_channel(got.append)
    failing = echo.reply_channel(lambda message: 1 / 0)
    assert first.startswith("echo.reply.") and "!" in first and first != failing
    await host.layer.send(failing, {"n": 0})
    await host.layer.send(first, {"n": 1})
    await wait_until(lambda: got == [{"n": 1}])
    assert "handling a message on" in caplog.text and "ZeroDivisionError" in caplog.text
    echo.forget(first)
    await host.layer.send(first, {"n": 2})
    later = echo.reply_channel(got.append)
    await host.layer.send(later, {"n": 3})
    await wait_until(lambda: len(got) == 2)
    assert got == [{"n": 1}, {"n": 3}]  # n=2 arrived after forget: dropped
    await echo.drain(0)


async def test_consumed_channels_run_up_to_concurrency_and_a_failure_is_isolated(host, caplog):
    echo = Echo(host)
    await echo.start()
    for message in ({"hold": 1}, {"hold": 2}, {"boom": True}, {"n": 4}):
        await host.layer.send("echo.send", message)
    await wait_until(lambda: echo.handling == 2)
    assert echo.handled == []  # both slots hold: nothing more is taken
    echo.release.set()
    await wait_until(lambda: len(echo.handled) == 3)
    assert "handler failed" in caplog.text
    await echo.drain(1)


async def test_drain_waits_for_outstanding_work_then_closes(host):
    echo = Echo(host)
    await echo.start()
    await host.layer.send("echo.send", {"hold": 1})
    await wait_until(lambda: echo.outstanding() == 1)
    draining = asyncio.create_task(echo.drain(5))
    await wait_until(lambda: echo.events == ["stop_accepting"])
    assert not draining.done()
    echo.release.set()
    await draining
    assert echo.events == ["stop_accepting", "close_all with 0 outstanding"]


async def test_drain_closes_what_outlives_the_grace(host, caplog):
    echo = Echo(host)
    await echo.start()
    echo.reply_channel(lambda message: None)  # a connection that never ends
    service = echo.daemon(asyncio.Event().wait(), "forever")
    await echo.drain(0.2)
    assert echo.events == ["stop_accepting", "close_all with 1 outstanding"]
    assert service.cancelled()
    assert "echo: closing 1 unfinished after 0.2s" in caplog.text


async def test_a_failing_task_is_logged_with_its_name(host, caplog):
    echo = Echo(host)
    await echo.start()

    async def broken() -> None:
        raise ValueError("nope")

    task = echo.spawn(broken(), "broken-work")
    await asyncio.wait([task])
    assert "echo: task broken-work failed" in caplog.text and "ValueError: nope" in caplog.text
    await echo.drain(0)


async def test_a_busy_address_names_the_plugin_address_and_flag(host):
    class Busy(Interface):
        name = "busy"

        async def listen(self) -> None:
            loop = asyncio.get_running_loop()
            opening = loop.create_server(asyncio.Protocol, "127.0.0.1", taken)
            await self.bind(opening, address=f"127.0.0.1:{taken}", flag="--busy-port")

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(StartFailed) as failed:
            await Busy(host).start()
    assert str(failed.value).startswith(f"busy: cannot listen on 127.0.0.1:{taken} (")
    assert str(failed.value).endswith("choose another with --busy-port")


async def test_the_listening_line(host, caplog):
    caplog.set_level(logging.INFO)
    Echo(host).listening("echo", "::1", 7000, " (test)")
    assert "listening on echo://[::1]:7000 (test)" in caplog.text


def test_the_01_names_keep_working_and_a_moved_one_warns():
    import gateways.host
    from gateways import config, plugin, plugins
    from gateways.layers import receiving

    assert config.Option is plugin.Option and plugins.ChannelSpec is plugin.ChannelSpec
    assert receiving.receive_forever is plugin.receive_forever
    with pytest.warns(DeprecationWarning, match=r"gateways\.plugin\.Interface"):
        old = gateways.host.Interface
    assert old is plugin.InterfaceLike


def test_the_sdk_module_exports_what_it_documents():
    from gateways import plugin

    assert all(hasattr(plugin, name) for name in plugin.__all__)
    for name in (
        "hookimpl",
        "Option",
        "port",
        "host_port",
        "byte_size",
        "positive",
        "not_negative",
        "boolean",
        "ConfigError",
        "ChannelSpec",
        "Host",
        "Interface",
        "ChannelFull",
        "MessageTooLarge",
        "LayerUnavailable",
        "receive_forever",
    ):
        assert name in plugin.__all__


async def test_single_use_and_expiring_reply_channels(host):
    echo = Echo(host)
    await echo.start()
    got: list[Any] = []
    once = echo.reply_channel(got.append, once=True)
    expiring = echo.reply_channel(got.append, timeout=0.05)
    await host.layer.send(once, {"n": 1})
    await wait_until(lambda: got == [{"n": 1}])
    assert echo.outstanding() == 1  # the single-use channel is gone after its answer
    await wait_until(lambda: echo.outstanding() == 0)  # and the other after its timeout
    await host.layer.send(once, {"n": 2})
    await host.layer.send(expiring, {"n": 3})
    check = echo.reply_channel(got.append)
    await host.layer.send(check, {"n": 4})
    await wait_until(lambda: len(got) == 2)
    assert got == [{"n": 1}, {"n": 4}]
    await echo.drain(0)


async def test_send_reports_a_refusal_instead_of_raising(host, caplog):
    layer = get_layer("memory://", capacity=1)
    echo = Echo(SimpleNamespace(layer=layer, settings=Settings({})))
    assert await echo.send("full.channel", {"n": 1}) is True
    assert await echo.send("full.channel", {"n": 2}) is False
    assert "echo: full.channel is full; a message is dropped" in caplog.text
    assert await echo.send("x", {"too": b"x" * (layer.max_message_size + 1)}) is False
    await layer.close()


async def test_consumed_channels_are_read_only_once_listening(host):
    class Late(Echo):
        reply_prefix = None

        async def listen(self) -> None:
            self.events.append(f"listen with {len(self.handled)} handled")

    late = Late(host)
    await host.layer.send("echo.send", {"n": 1})
    await late.start()
    await wait_until(lambda: late.handled == [{"n": 1}])
    assert late.events == ["listen with 0 handled"]
    await late.drain(0)


async def test_consumed_work_flows_without_waiting_for_a_poll(host):
    """With a reply prefix and one slot, each freed slot takes the next message at once
    (no waiting for a receive on the replies alone to time out)."""
    echo = Echo(host)
    echo.concurrency = 1
    await echo.start()
    for n in range(30):
        await host.layer.send("echo.send", {"n": n})
    await wait_until(lambda: len(echo.handled) == 30, timeout=echo.poll_seconds * 5)
    assert [m["n"] for m in echo.handled] == list(range(30))  # one slot: in order
    await echo.drain(1)


async def test_persistent_reply_channels_do_not_hold_a_drain(host):
    echo = Echo(host)
    await echo.start()
    echo.reply_channel(lambda message: None, persistent=True)
    assert echo.outstanding() == 0
    await echo.drain(5)
    assert echo.events == ["stop_accepting", "close_all with 0 outstanding"]
