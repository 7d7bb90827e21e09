"""The communicators of gateways.testing: consumers driven in-process through the real
routing and worker, for every bundled protocol, with what they send recorded."""

from __future__ import annotations

import asyncio
import typing

import pytest
from gateways_email._types import EmailReceive
from gateways_http._types import HttpRequest
from gateways_irc._types import IrcConnection, IrcReceive
from gateways_websocket._types import WebSocketConnect, WebSocketDisconnect, WebSocketReceive

from gateways import route
from gateways.testing import (
    ConsumerError,
    EmailCommunicator,
    HttpCommunicator,
    IrcCommunicator,
    WebsocketCommunicator,
)
from tests.apps import email_app, http_app, irc_app, websocket_app

pytestmark = pytest.mark.timeout(30)


def assert_shape(message: dict[str, typing.Any], shape: typing.Any) -> None:
    """``message`` has every required key of the plugin's TypedDict and no unknown one."""
    hints = typing.get_type_hints(shape, include_extras=True)
    optional = {k for k, hint in hints.items() if typing.get_origin(hint) is typing.NotRequired}
    required = hints.keys() - optional if shape.__total__ else set()
    assert required <= message.keys() <= hints.keys(), sorted(message)


def recorder(seen: list[dict[str, typing.Any]]) -> typing.Any:
    async def consumer(message: typing.Any, **kwargs: typing.Any) -> None:
        seen.append({k: v for k, v in message.content.items() if not k.startswith("__")})
        if message.channel == "http.request":
            await message.reply({"status": 204})
        elif message.channel == "websocket.connect":
            await message.reply({"accept": True})

    return consumer


# -- HTTP -------------------------------------------------------------------------------


async def test_http_response_of_the_routed_consumer():
    comm = HttpCommunicator(http_app.routes, "GET", "/hello")
    response = await comm.get_response()
    assert (response.status, response.body) == (200, b"hello")
    assert response.header("Content-Type") == b"text/plain"
    assert await comm.get_response() is response and not comm.running


async def test_http_streamed_response_keeps_its_chunks():
    response = await HttpCommunicator(http_app.routes, "GET", "/stream/2").get_response()
    assert response.chunks == [b"", b"part 0\n", b"part 1\n", b""]
    assert response.body == b"part 0\npart 1\n"


async def test_http_request_message_has_the_contract_shape():
    seen: list[dict[str, typing.Any]] = []
    comm = HttpCommunicator(
        recorder(seen), "POST", "/a%20b?x=1", body=b"data", headers={"X-Test": "yes"}
    )
    assert (await comm.get_response()).status == 204
    (request,) = seen
    assert_shape(request, HttpRequest)
    assert (request["path"], request["query_string"], request["body"]) == ("/a b", b"x=1", b"data")
    assert [b"x-test", b"yes"] in request["headers"]
    assert [b"content-length", b"4"] in request["headers"]


async def test_http_large_body_arrives_on_the_body_channel():
    comm = HttpCommunicator(http_app.routes, "POST", "/echo", body=[b"ab", b"cd", b"ef"])
    seen = (await comm.get_response()).text
    assert '"body_length": 6' in seen and '"body_start": "abcdef"' in seen


async def test_http_unrouted_gets_the_plugins_404():
    response = await HttpCommunicator(http_app.routes, "GET", "/nowhere").get_response()
    assert response.status == 404


async def test_http_consumer_error_is_raised_in_the_test():
    with pytest.raises(RuntimeError, match="consumer blew up"):
        await HttpCommunicator(http_app.routes, "GET", "/explode").get_response()


async def test_http_consumer_error_answers_500_when_not_raised():
    comm = HttpCommunicator(http_app.routes, "GET", "/explode", raise_errors=False)
    assert (await comm.get_response()).status == 500
    assert [str(e) for e in comm.errors] == ["consumer blew up"]


async def test_http_no_reply_times_out():
    comm = HttpCommunicator(http_app.routes, "GET", "/silent", timeout=0.2)
    with pytest.raises(TimeoutError, match=r"waited 0\.2 s for a reply"):
        await comm.get_response()
    assert not comm.running


async def test_sync_consumer_and_its_sends_to_other_channels():
    def view(message: typing.Any) -> None:
        message.layer.send("email.send", {"to": ["a@test.invalid"], "subject": "s", "body": ""})
        message.reply({"status": 200, "content": b"sync"})

    comm = HttpCommunicator([route("http.request", view)], "GET", "/")
    assert (await comm.get_response()).body == b"sync"
    assert comm.sent("email.send") == [{"to": ["a@test.invalid"], "subject": "s", "body": ""}]


async def test_a_consumer_that_aborts_a_started_response():
    async def half(message: typing.Any) -> None:
        await message.reply({"status": 200, "content": b"start", "more_content": True})
        raise ValueError("half way")

    comm = HttpCommunicator(half, "GET", "/", raise_errors=False)
    with pytest.raises(ConsumerError, match="aborted"):
        await comm.get_response()


# -- WebSocket --------------------------------------------------------------------------


async def test_websocket_echo_and_close_by_the_client():
    comm = WebsocketCommunicator(websocket_app.routes, "/echo")
    assert await comm.connect()
    await comm.send_text("hi")
    assert await comm.receive_text() == "hi"
    await comm.send_bytes(b"\x00\x01")
    assert await comm.receive_bytes() == b"\x00\x01"
    assert await comm.receive_nothing()
    await comm.disconnect()
    assert not comm.running


async def test_websocket_messages_have_the_contract_shapes_and_order():
    seen: list[dict[str, typing.Any]] = []
    comm = WebsocketCommunicator(recorder(seen), "/x?q=1", subprotocols=["chat"])
    assert await comm.connect()
    await comm.send_text("a")
    await comm.send_bytes(b"b")
    await comm.disconnect(1001)
    connect, text, data, gone = seen
    for message, shape in [
        (connect, WebSocketConnect),
        (text, WebSocketReceive),
        (data, WebSocketReceive),
        (gone, WebSocketDisconnect),
    ]:
        assert_shape(message, shape)
    assert [m["order"] for m in seen] == [0, 1, 2, 3]
    assert (connect["query_string"], connect["subprotocols"]) == (b"q=1", ["chat"])
    assert gone["code"] == 1001


async def test_websocket_refusals_and_their_status():
    reject = WebsocketCommunicator(websocket_app.routes, "/reject")
    assert not await reject.connect()
    assert reject.status == 403 and not reject.running
    unrouted = WebsocketCommunicator(websocket_app.routes, "/nowhere")
    assert not await unrouted.connect()
    assert unrouted.status == 404  # the websocket plugin's own answer


async def test_websocket_accept_by_sending_data_and_subprotocol():
    scope = WebsocketCommunicator(websocket_app.routes, "/scope")
    assert await scope.connect()
    assert '"path": "/scope"' in await scope.receive_text()
    await scope.disconnect()
    chosen = WebsocketCommunicator(websocket_app.routes, "/subprotocol", subprotocols=["chat.v2"])
    assert await chosen.connect()
    assert chosen.subprotocol == "chat.v2"
    await chosen.disconnect()


async def test_websocket_close_by_the_consumer_is_observed():
    comm = WebsocketCommunicator(websocket_app.routes, "/echo")
    assert await comm.connect()
    await comm.send_text("close 4001")
    assert await comm.receive_close() == 4001
    assert comm.close_code == 4001 and not comm.running


async def test_websocket_group_sends_are_recorded_and_delivered():
    comm = WebsocketCommunicator(websocket_app.routes, "/room/lobby")
    assert await comm.connect()
    await comm.send_text("hello room")
    assert await comm.receive_text() == "hello room"  # the socket is in the group
    assert comm.group_sends("room-lobby") == [{"text": "hello room"}]
    await comm.disconnect()


async def test_two_sockets_share_a_layer():
    first = WebsocketCommunicator(websocket_app.routes, "/room/r")
    second = WebsocketCommunicator(websocket_app.routes, "/room/r", layer=first.layer)
    assert await first.connect() and await second.connect()
    await first.send_text("to both")
    assert await second.receive_text() == "to both"
    assert await first.receive_text() == "to both"
    await first.disconnect()
    await second.disconnect()


async def test_websocket_consumer_error_closes_1011_when_not_raised():
    comm = WebsocketCommunicator(websocket_app.routes, "/echo", raise_errors=False)
    assert await comm.connect()
    await comm.send_text("explode")
    assert await comm.receive_close() == 1011
    with pytest.raises(RuntimeError, match="blew up"):
        raise comm.errors[0]


# -- email ------------------------------------------------------------------------------


async def test_email_reply_is_captured_as_email_send():
    comm = EmailCommunicator(email_app.routes)
    received = await comm.deliver(
        from_="alice@test.invalid", to=["help@test.invalid"], subject="reply please", body="Hi"
    )
    assert_shape(received, EmailReceive)
    assert received["from"] == "alice@test.invalid"
    assert received["content"]["body"] == b"Hi\r\n"  # as sent over SMTP
    (sent,) = comm.sent("email.send")
    assert sent["to"] == ["alice@test.invalid"] and sent["subject"] == "Re: reply please"
    assert sent["in_reply_to"] == received["message_id"]


async def test_email_raw_bytes_are_parsed_by_the_plugin():
    raw = b"From: bob@test.invalid\r\nSubject: irc #ops\r\n\r\nbody\r\n"
    async with EmailCommunicator(email_app.routes) as comm:
        await comm.deliver(raw, from_="bob@test.invalid", to=["x@test.invalid"])
        await comm.deliver(raw, from_="bob@test.invalid", to=["x@test.invalid"])
    sends = comm.sent("irc-client.send")
    assert [s["channel"] for s in sends] == ["#ops", "#ops"]
    assert comm.delivered[0]["raw"] == raw


async def test_email_needs_the_email_plugins_parser(monkeypatch):
    monkeypatch.setattr("gateways.testing.mail.PARSER", "gateways_email.not_there")
    with pytest.raises(ImportError, match="pip install gateways-email"):
        EmailCommunicator(email_app.routes)


# -- IRC --------------------------------------------------------------------------------


async def test_irc_say_returns_the_replies():
    comm = IrcCommunicator(irc_app.routes, network="net")
    replies = await comm.say("#chan", "alice", "!echo hi")
    assert replies == [{"channel": "#chan", "body": "echo hi"}]


async def test_irc_events_have_the_contract_shape_and_sends_are_captured():
    seen: list[dict[str, typing.Any]] = []
    async with IrcCommunicator(
        [route("irc-client.receive", recorder(seen)), *irc_app.routes], network="net"
    ) as comm:
        await comm.connect()
        await comm.say("#chan", "alice", "hi")
        await comm.event("kick", user="op", channel="#chan", body="bye", target="alice")
    assert comm.replies == []
    message, kick = seen
    assert_shape(message, IrcReceive)
    assert_shape(kick, IrcReceive)
    assert (message["network"], message["user"], message["bot_nick"]) == ("net", "alice", "bot")
    assert kick["target"] == "alice"


async def test_irc_unsolicited_sends_and_wait_sent():
    comm = IrcCommunicator(irc_app.routes)
    async with comm:
        task = asyncio.ensure_future(comm.say("#a", "bob", "!send net #b hello"))
        (sent,) = await comm.wait_sent("irc-client.send")
        assert await task == []
    assert sent == {"network": "net", "channel": "#b", "type": "message", "body": "hello"}


async def test_irc_connect_message_shape():
    seen: list[dict[str, typing.Any]] = []
    comm = IrcCommunicator([route("irc-client.connect", recorder(seen))], network="n")
    await comm.connect()
    assert_shape(seen[0], IrcConnection)


async def test_a_layer_from_the_fixture(gateways_layer):
    comm = HttpCommunicator(http_app.routes, "GET", "/hello", layer=gateways_layer)
    assert (await comm.get_response()).status == 200
    assert comm.layer is gateways_layer
