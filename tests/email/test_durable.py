"""No accepted mail is lost, on the Redis layer: 250 only once Redis has the message,
451 while Redis is down, and a worker killed mid-consumer does not lose the mail."""

from __future__ import annotations

import signal

from tests.email.helpers import connect

APP = "email_app:routes"
MAIL = "From: bob@remote.test\r\nSubject: {}\r\nMessage-ID: <{}@remote.test>\r\n\r\nbody\r\n"


def interface(gateways_process, layer_url):
    return gateways_process(
        "serve",
        "--plugin",
        "email",
        "--layer",
        layer_url,
        "--workers",
        "0",
        "--smtp-port",
        "0",
        "--smtp-domain",
        "example.com",
        ready="gateways ready",
    )


def deliver(port: int, subject: str, ident: str) -> tuple[int, bytes]:
    with connect(port) as client:
        client.ehlo()
        client.mail("bob@remote.test")
        client.rcpt("alice@example.com")
        return client.data(MAIL.format(subject, ident))


def test_a_worker_killed_mid_consumer_does_not_lose_the_mail(gateways_process, redis_layer_url):
    url = redis_layer_url + "?visibility_timeout=1"
    server = interface(gateways_process, url)
    _, port = server.address("smtp")
    first = gateways_process("worker", APP, "--layer", url)
    assert deliver(port, "hold on", "durable1")[0] == 250
    first.wait_for(r"email app holding <durable1@remote.test> attempt 1")
    first.signal(signal.SIGKILL)
    first.wait()

    second = gateways_process("worker", APP, "--layer", url)
    found = second.wait_for(r"email app got .*\"attempt\": 2", timeout=15)
    assert "durable1@remote.test" in found.string
    assert server.stop() == 0


def test_redis_down_answers_451_and_nothing_is_lost(gateways_process, make_redis_server):
    redis = make_redis_server()
    server = interface(gateways_process, redis.url)
    _, port = server.address("smtp")
    redis.kill()
    code, text = deliver(port, "while down", "down1")
    assert code == 451, text
    server.wait_for("channel layer unreachable")  # (its reader thread may be behind the 451)

    redis.start(keep_port=True)
    assert deliver(port, "back up", "up1")[0] == 250
    worker = gateways_process("worker", APP, "--layer", redis.url)
    summary = worker.wait_for(r"email app got (.*)")
    assert "up1@remote.test" in summary[1]
    assert server.stop() == 0
