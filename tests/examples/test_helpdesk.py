"""``examples/helpdesk`` end to end, run by the very command docs/examples.md shows (ports
and peers overridden by flags): a mail sent with smtplib becomes a ticket that a person in
a real ngircd channel sees and that headless Chromium shows live; ``!reply`` said on IRC
reaches a real SMTP sink as an answer threaded under the customer's mail."""

from __future__ import annotations

import shlex
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from tests.fixtures.browser import keep_screenshot, shown

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "examples.md"

pytestmark = pytest.mark.timeout(60)


def documented_command(page: Path) -> list[str]:
    """The arguments of the page's ``gateways serve ... examples.helpdesk.app:routes``."""
    text = page.read_text().replace("\\\n", " ")
    (line,) = [x for x in text.splitlines() if "gateways serve" in x and "helpdesk.app" in x]
    words = shlex.split(line)
    return words[words.index("gateways") + 1 :]


def customer_mail() -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Bob <bob@remote.test>"
    mail["To"] = "support@example.com"
    mail["Subject"] = "the printer is on fire"
    mail["Message-ID"] = make_msgid(domain="remote.test")
    mail.set_content("Third floor, by the window.\n")
    return mail


def test_the_readme_and_the_docs_show_one_command():
    readme = ROOT / "examples" / "helpdesk" / "README.md"
    assert documented_command(readme) == documented_command(DOCS)


def test_the_docs_show_the_example_settings_as_they_are():
    settings = (ROOT / "examples" / "helpdesk" / "gateways.toml").read_text()
    assert f"```toml\n{settings}```" in DOCS.read_text()


def test_a_mail_becomes_a_ticket_on_irc_and_the_page_and_an_irc_reply_is_mailed_back(
    gateways_process, ircd, irc_user, smtp_relay, browser, tmp_path
):
    staff = irc_user(ircd, "staff", channels=["#helpdesk"])
    mark = staff.mark()
    process = gateways_process(
        *documented_command(DOCS),
        *("--http-port", "0", "--smtp-port", "0", "--smtp-relay", smtp_relay.address),
        *("--irc-server", ircd.address),
        env={"HELPDESK_DB": str(tmp_path / "tickets.sqlite3"), "PYTHONPATH": str(ROOT)},
        cwd=str(ROOT),
    )
    staff.wait_for(r"^:helpdesk!\S+ JOIN :?#helpdesk", start=mark)
    browser.get(process.url + "/")
    shown(browser, "#link.live")  # the page's socket is in the group: what comes is live

    mail = customer_mail()
    smtp_host, smtp_port = process.address("smtp")
    with smtplib.SMTP(smtp_host, smtp_port, timeout=10) as client:
        client.send_message(mail)

    row = shown(browser, 'tr[data-ticket="1"][data-replies="0"]')
    assert "bob@remote.test" in row.text and "the printer is on fire" in row.text
    assert "Third floor, by the window." in row.text
    (announced,) = staff.wait_messages("helpdesk", 1, start=mark)
    assert announced.text == (
        "ticket #1 from bob@remote.test: the printer is on fire (answer with: !reply 1 <text>)"
    )

    mark = staff.mark()
    staff.say("#helpdesk", "!reply 1 thanks, a technician is on the way")
    (answer,) = smtp_relay.wait_for(1)
    assert answer.rcpt_tos == ["bob@remote.test"]
    sent = answer.message
    assert sent["In-Reply-To"] == mail["Message-ID"]
    assert mail["Message-ID"] in sent["References"]
    assert sent["Subject"] == "Re: the printer is on fire"
    assert sent["From"] == "support@example.com"
    text = sent.get_content().splitlines()
    assert text[0] == "thanks, a technician is on the way"
    assert text[-1] == "staff, support@example.com (ticket #1)"  # who answered
    (confirmed,) = staff.wait_messages("helpdesk", 1, start=mark)
    assert confirmed.text == "ticket #1: answer sent to bob@remote.test"
    shown(browser, 'tr[data-ticket="1"][data-replies="1"]')

    browser.refresh()  # a page opened later is sent the tickets there are
    row = shown(browser, 'tr[data-ticket="1"][data-replies="1"]')
    assert "answered (1)" in row.text
    keep_screenshot(browser, tmp_path, "helpdesk.png")
    assert process.stop() == 0
