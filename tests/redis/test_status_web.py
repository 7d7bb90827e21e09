"""``gateways status --web``: the live status page, opened in a real headless Chromium,
against a real deployment (Redis, ``gateways serve``, a worker that leaves a queue alone).

Chromium and its driver are the Debian packages ``chromium`` and ``chromium-driver``
(scripts/test.sh installs them); without them these tests fail, they do not skip.
"""

from __future__ import annotations

import asyncio
import signal

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from gateways.layers import get_layer
from tests.core.test_cli import gateways
from tests.redis.test_deployment import start_serve, start_worker

pytestmark = pytest.mark.timeout(90)

READY = r"status page on (http://\S+)"
QUEUE = "jobs.backlog"  # no route consumes it: what the test sends there stays


def send(url: str, channel: str, count: int, **fields: object) -> None:
    async def sending() -> None:
        layer = get_layer(url)
        try:
            for n in range(count):
                await layer.send(channel, {"n": n, **fields})
        finally:
            await layer.close()

    asyncio.run(sending())


def shown(browser: WebDriver, selector: str, timeout: float = 15.0) -> None:
    """Wait until the page has an element matching ``selector`` (the page updates itself)."""
    try:
        WebDriverWait(browser, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, selector))
    except TimeoutException:
        text = browser.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"the page never showed {selector!r}; it reads:\n{text}") from None


def test_the_status_page_charts_a_queue_live(redis_layer_url, gateways_process, browser, tmp_path):
    start_serve(gateways_process, redis_layer_url)  # produces http.request: nobody takes it
    worker = start_worker(gateways_process, redis_layer_url, "--only-channels", "jobs.a")
    send(redis_layer_url, QUEUE, 12)
    page = gateways_process("status", "--web", "0", "--layer", redis_layer_url, ready=READY)
    browser.get(page.wait_for(READY)[1])

    shown(browser, f'#depth-chart [data-channel="{QUEUE}"][data-depth="12"]')
    shown(browser, f'#channels tr[data-channel="{QUEUE}"][data-depth="12"]')
    send(redis_layer_url, QUEUE, 5)  # the page follows without a reload
    send(redis_layer_url, "jobs.a", 3, report_to="test.reports")
    shown(browser, f'#depth-chart [data-channel="{QUEUE}"][data-depth="17"]')
    name = f"{worker.proc.pid}:worker"
    shown(browser, f'#load-chart [data-worker$="{name}"]')
    shown(browser, f'#workers tr[data-worker$="{name}"][data-handled="3"]')
    shown(browser, "#link.live")
    orphan = "http.request: interfaces produce it and no live worker receives it"
    WebDriverWait(browser, 15).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "problems"), orphan)
    )

    screenshot = tmp_path / "status_page.png"
    assert browser.save_screenshot(str(screenshot)), "no screenshot"
    print(f"status page screenshot: {screenshot}")
    assert page.stop(signal.SIGTERM) == 0  # with the page still connected
    page.wait_for("status page stopped")


def test_the_page_is_served_only_for_a_shared_layer_and_alone():
    done = gateways("status", "--web", "0", "--layer", "memory://")
    assert done.returncode == 2
    assert "gateways status cannot read memory://" in done.stderr
    done = gateways("status", "--web", "0", "--json", "--layer", "redis://127.0.0.1:1/0")
    assert done.returncode == 2
    assert "--web shows the figures in a browser" in done.stderr
