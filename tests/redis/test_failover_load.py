"""The acceptance test of Redis high availability: ``gateways serve --plugin http
--plugin email`` and a worker on a ``redis+sentinel://`` layer, under steady HTTP and
SMTP load, while the primary is killed (SIGKILL) and Sentinel fails over.

No accepted email is lost (``email.receive`` is durable: each one the SMTP server
answered 250 is on every replica online, so the promoted one has it), and HTTP answers
503 only during the failover (a refused send answers at once; a request whose message
died with the primary answers after ``--http-timeout``).
"""

from __future__ import annotations

import json
import re
import smtplib
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

pytestmark = pytest.mark.timeout(90)

HTTP_TIMEOUT = 5.0


@dataclass
class Answer:
    started: float
    ended: float
    status: int | str


@dataclass
class Load:
    """HTTP clients and one SMTP client in threads, back to back until stopped."""

    base: str
    smtp: tuple[str, int]
    answers: list[Answer] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)  # mail numbers answered 250
    refused: list[int] = field(default_factory=list)  # the codes mails were refused with
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self, clients: int = 3) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._http, daemon=True) for _ in range(clients)]
        threads.append(threading.Thread(target=self._mail, daemon=True))
        for thread in threads:
            thread.start()
        return threads

    def _http(self) -> None:
        with httpx.Client(base_url=self.base, timeout=HTTP_TIMEOUT + 10) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    status: int | str = client.get("/whoami").status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.answers.append(Answer(started, time.monotonic(), status))

    def _mail(self) -> None:
        number = 0
        client: smtplib.SMTP | None = None
        while not self.stop.is_set():
            message = f"Subject: ha {number}\r\n\r\nmail {number}\r\n"
            try:
                client = client or smtplib.SMTP(*self.smtp, timeout=20)
                client.sendmail("bob@remote.test", ["alice@example.com"], message)
            except smtplib.SMTPResponseException as exc:  # 451: the sender tries again
                self.refused.append(exc.smtp_code)
                client.rset()  # type: ignore[union-attr]
                continue
            except smtplib.SMTPServerDisconnected:
                client = None
                continue
            self.accepted.append(number)
            number += 1

    def wait(self, answers: int = 0, mails: int = 0, after: float = 0.0, timeout: float = 30):
        """Until ``answers`` more HTTP 200 (to requests started after ``after``) and
        ``mails`` more accepted mails."""
        deadline = time.monotonic() + timeout
        ok, accepted = self._ok(after) + answers, len(self.accepted) + mails
        while self._ok(after) < ok or len(self.accepted) < accepted:
            assert time.monotonic() < deadline, f"load stalled: {self.summary()}"
            time.sleep(0.01)  # polling the clients' counts

    def _ok(self, after: float) -> int:
        return sum(1 for a in list(self.answers) if a.status == 200 and a.started >= after)

    def summary(self, since: float = 0.0) -> str:
        statuses: dict[int | str, int] = {}
        for answer in self.answers:
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
        failed = [a for a in self.answers if a.status != 200]
        window = (
            f" (from {min(a.started for a in failed) - since:+.2f}s to "
            f"{max(a.ended for a in failed) - since:+.2f}s)"
            if failed
            else ""
        )
        return (
            f"HTTP {statuses}{window}; mails: {len(self.accepted)} accepted, "
            f"{len(self.refused)} answered {sorted(set(self.refused))} (retried)"
        )


def delivered(worker_output: str) -> set[int]:
    """The mail numbers the worker's consumer got (each at least once)."""
    found = re.findall(r"email app got (\{.*\})", worker_output)
    return {int(json.loads(line)["subject"].split()[1]) for line in found}


def test_a_killed_primary_under_http_and_email_load_loses_no_email(
    make_sentinel_group, gateways_process
):
    group = make_sentinel_group(replicas=2, sentinels=3)
    serve = gateways_process(
        "serve",
        *("--plugin", "http", "--plugin", "email", "--layer", group.url),
        *("--http-port", "0", "--smtp-port", "0", "--smtp-domain", "example.com"),
        *("--http-timeout", str(HTTP_TIMEOUT)),
    )
    worker = gateways_process("worker", "ha_app:routes", "--layer", group.url)
    load = Load(serve.url_for("http"), serve.address("smtp"))
    threads = load.start()
    try:
        load.wait(answers=50, mails=20)
        old = group.primary_address()
        killed = time.monotonic()
        group.server_at(old).kill()
        while group.primary_address() == old:
            assert time.monotonic() - killed < 30, "no failover"
            time.sleep(0.02)  # polling Sentinel's view
        switched = time.monotonic()
        load.wait(answers=100, mails=20, after=switched)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(HTTP_TIMEOUT + 15)
    # Back: the first answer to a request sent after the kill. Not the first such
    # request's start: a client's clock is not the server's, and two requests started
    # a millisecond apart may reach the layer in either order around its return.
    back = min(a.ended for a in load.answers if a.started > killed and a.status == 200)
    failed = [a for a in load.answers if a.status != 200]
    report = (
        f"failover (kill to Sentinel's switch) {switched - killed:.2f}s, first request "
        f"answered again {back - killed:.2f}s after the kill; {load.summary(since=killed)}"
    )
    print(report)  # the figures, with -s
    assert {a.status for a in failed} <= {503}, report
    assert all(400 <= code < 500 for code in load.refused), report  # never refused for good
    # each 503 overlaps the failover: sent before the service was back, answered after
    # the kill (a request whose message died with the primary answers at --http-timeout)
    assert all(a.ended >= killed and a.started < back for a in failed), report
    accepted = set(load.accepted)
    deadline = time.monotonic() + 20
    while not accepted <= delivered(worker.output):  # durable: redelivered if need be
        assert time.monotonic() < deadline, f"lost: {sorted(accepted - delivered(worker.output))}"
        time.sleep(0.05)
    assert serve.proc.poll() is None and worker.proc.poll() is None
    assert "Traceback" not in serve.output
    # consumers whose replies failed are logged as failed consumers, the worker goes on
    assert "message handling crashed" not in worker.output
