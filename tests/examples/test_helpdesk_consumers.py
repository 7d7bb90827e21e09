"""The helpdesk's consumers one by one, in-process, with the communicators of
``gateways.testing`` (no server): what each one sends, to which channel or group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from examples.helpdesk import app
from examples.helpdesk.tickets import Ticket, TicketStore
from gateways.testing import (
    EmailCommunicator,
    HttpCommunicator,
    IrcCommunicator,
    WebsocketCommunicator,
)

pytestmark = pytest.mark.timeout(30)

BOB = "Bob <bob@remote.test>"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TicketStore:
    """The app's ticket store, in a file of this test's own."""
    tickets = TicketStore(tmp_path / "tickets.sqlite3")
    monkeypatch.setattr(app, "tickets", tickets)
    return tickets


def a_ticket(store: TicketStore, message_id: str | None = "<first@remote.test>") -> Ticket:
    return store.open("bob@remote.test", "the printer is on fire", message_id, "Third floor.")


def published(messages: list[dict[str, object]]) -> list[object]:
    return [json.loads(str(m["text"])) for m in messages]


async def test_the_page_is_served():
    response = await HttpCommunicator(app.routes, "GET", "/").get_response()
    assert response.status == 200
    assert response.header("content-type") == b"text/html; charset=utf-8"
    assert '"/tickets"' in response.text and "new WebSocket" in response.text


async def test_a_mail_to_the_support_address_opens_a_ticket_for_irc_and_the_pages(store):
    comm = EmailCommunicator(app.routes)
    mail = await comm.deliver(
        from_="bounces@lists.remote.test",
        to=["Support@Example.com"],
        subject="the printer is on fire",
        body="Third floor.\n",
        headers={"From": BOB},
    )
    (ticket,) = store.latest()
    assert ticket["sender"] == "bob@remote.test"  # From, not the envelope's bounce address
    assert (ticket["id"], ticket["message_id"]) == (1, mail["message_id"])
    assert (ticket["body"], ticket["replies"]) == ("Third floor.", 0)
    assert comm.sent("irc-client.send") == [
        {
            "network": "local",
            "channel": "#helpdesk",
            "type": "message",
            "body": "ticket #1 from bob@remote.test: the printer is on fire"
            " (answer with: !reply 1 <text>)",
        }
    ]
    assert published(comm.group_sends("tickets")) == [{"ticket": ticket}]


async def test_answers_go_to_reply_to(store):
    await EmailCommunicator(app.routes).deliver(
        from_="bob@remote.test",
        to=["support@example.com"],
        subject="hi",
        headers={"From": BOB, "Reply-To": "Help <help@remote.test>"},
    )
    assert [t["sender"] for t in store.latest()] == ["help@remote.test"]


async def test_a_mail_delivered_twice_is_one_ticket(store):
    comm = EmailCommunicator(app.routes)
    async with comm:
        first = await comm.deliver(from_="bob@remote.test", to=["support@example.com"])
        await comm.deliver(first["raw"], from_="bob@remote.test", to=["support@example.com"])
    assert [t["id"] for t in store.latest()] == [1]
    assert [m["body"][:10] for m in comm.sent("irc-client.send")] == ["ticket #1 "] * 2


async def test_other_mail_is_no_ticket(store):
    comm = EmailCommunicator(app.routes)
    await comm.deliver(from_="bob@remote.test", to=["sales@example.com"], subject="hi")
    assert store.latest() == []
    assert comm.sends == [] and comm.group_messages == []


async def test_reply_mails_the_answer_threaded_under_the_first_mail(store):
    ticket = a_ticket(store)
    comm = IrcCommunicator(app.routes, network="local")
    replies = await comm.say("#helpdesk", "alice", "!reply #1   thanks, on it")
    assert comm.sent("email.send") == [
        {
            "from": "support@example.com",
            "to": ["bob@remote.test"],
            "subject": "Re: the printer is on fire",
            "body": "thanks, on it\n\n-- \nalice, support@example.com (ticket #1)\n",
            "in_reply_to": "<first@remote.test>",
        }
    ]
    assert replies == [
        {"channel": "#helpdesk", "body": "ticket #1: answer sent to bob@remote.test"}
    ]
    answered = {**ticket, "replies": 1}
    assert store.get(1) == answered
    assert published(comm.group_sends("tickets")) == [{"ticket": answered}]


async def test_a_reply_without_a_message_id_is_not_threaded(store):
    a_ticket(store, message_id=None)
    comm = IrcCommunicator(app.routes, network="local")
    await comm.say("#HelpDesk", "alice", "!reply 1 done")  # channel names ignore case
    (mail,) = comm.sent("email.send")
    assert "in_reply_to" not in mail


async def test_reply_to_an_unknown_ticket_says_so(store):
    comm = IrcCommunicator(app.routes, network="local")
    replies = await comm.say("#helpdesk", "alice", "!reply 7 thanks")
    assert replies == [{"channel": "#helpdesk", "body": "no ticket #7"}]
    assert comm.sent("email.send") == []


@pytest.mark.parametrize(
    ("channel", "body"),
    [("#random", "!reply 1 thanks"), ("bot", "!reply 1 thanks"), ("#helpdesk", "!reply 1")],
)
async def test_only_a_whole_reply_in_the_channel_answers(store, channel, body):
    a_ticket(store)
    comm = IrcCommunicator(app.routes, network="local")
    assert await comm.say(channel, "alice", body) == []
    assert comm.sends == [] and comm.group_messages == []


async def test_the_bot_connecting_and_leaving_is_handled_quietly(store):
    comm = IrcCommunicator(app.routes, network="local")
    async with comm:
        assert await comm.connect() == []
        assert await comm.disconnect() == []
    assert comm.errors == [] and comm.sends == []


async def test_a_page_gets_the_tickets_then_what_the_group_gets(store):
    older, newer = a_ticket(store, "<a@remote.test>"), a_ticket(store, "<b@remote.test>")
    comm = WebsocketCommunicator(app.routes, "/tickets")
    assert await comm.connect()
    assert json.loads(await comm.receive_text()) == {"tickets": [newer, older]}
    await comm.layer.group_send(app.GROUP, {"text": "news"})
    assert await comm.receive_text() == "news"
    await comm.send_text("the page says nothing, but may")
    await comm.disconnect()
    await comm.layer.group_send(app.GROUP, {"text": "after"})
    assert comm.reply_channel is not None
    assert await comm.layer.receive([comm.reply_channel], timeout=0.05) == (None, None)
