"""Draining the email interface: mail being handed to the layer gets its answer,
deliveries in flight finish, then open sessions hear 421."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateways.layers import get_layer
from tests.email.helpers import RawSession, connect

MAIL = b"From: bob@remote.test\r\nSubject: late\r\n\r\nbody\r\n"


def send_without_quit(port: int) -> dict[str, object]:
    """sendmail, then hang up: once the mail is answered, the drain may close the session
    (with 421) before a QUIT would get its 221."""
    client = connect(port)
    try:
        return client.sendmail("bob@remote.test", ["alice@example.com"], MAIL)
    finally:
        client.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition of the interface that no event announces."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_mail_being_handed_over_gets_its_250_during_drain(start_email, make_redis_server):
    redis = make_redis_server()
    layer = get_layer(redis.url)
    interface = await start_email(layer=layer)
    with redis.client() as admin:
        # Writes wait while Redis is paused: the hand-over of the mail hangs there.
        admin.execute_command("CLIENT", "PAUSE", 30000, "WRITE")
        sending = asyncio.ensure_future(asyncio.to_thread(send_without_quit, interface.port))
        await until(lambda: interface.handler.in_flight == 1)
        draining = asyncio.ensure_future(interface.drain(10.0))
        await until(lambda: interface.server is not None and not interface.server.is_serving())
        assert interface.outstanding() == 1
        assert not draining.done()
        admin.execute_command("CLIENT", "UNPAUSE")
    assert await sending == {}  # 250: the layer has it
    await draining
    _, message = await layer.receive(["email.receive"], timeout=5)
    assert message["subject"] == "late"
    await layer.close()


async def test_a_delivery_being_retried_finishes_before_sessions_hear_421(start_email, smtp_relay):
    smtp_relay.data_answers.append("451 4.3.0 later")
    interface = await start_email(smtp_relay=smtp_relay.address, smtp_relay_backoff=0.3)
    idle = await RawSession.open(interface.port)
    assert (await idle.command("EHLO client.test"))[0] == 250
    await interface.layer.send(
        "email.send", {"from": "a@example.com", "to": ["b@remote.test"], "body": "x"}
    )
    await until(lambda: smtp_relay.refused == 1)
    assert interface.outstanding() == 1  # waiting for its retry
    await interface.drain(10.0)
    assert len(smtp_relay.messages) == 1  # the retry went out within the grace period
    code, text = await idle.reply()
    assert code == 421 and "shutting down" in text
    await idle.close()


async def test_without_a_relay_email_send_is_left_for_another_process(start_email):
    interface = await start_email()
    assert interface.channels() == ()
    message = {"from": "a@example.com", "to": ["b@remote.test"], "body": "x"}
    await interface.layer.send("email.send", message)
    channel, found = await interface.layer.receive(["email.send"], timeout=1)
    assert (channel, found["body"]) == ("email.send", "x")
