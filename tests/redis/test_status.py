"""``gateways status`` against a real deployment: Redis, an interface, a worker."""

from __future__ import annotations

import json
import signal

import pytest

from gateways.layers import get_layer
from tests.core.test_cli import gateways
from tests.redis.test_deployment import start_serve, start_worker

pytestmark = pytest.mark.timeout(60)


def status(url: str, *args: str):
    done = gateways("status", "--layer", url, *args)
    assert done.returncode in (0, 1), done.stderr
    return done


def test_a_healthy_deployment_reports_its_workers_interfaces_and_channels(
    redis_layer_url, gateways_process
):
    serve, _ = start_serve(gateways_process, redis_layer_url)
    worker = start_worker(gateways_process, redis_layer_url)
    done = status(redis_layer_url, "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0, report["problems"]
    assert set(report) >= {"channels", "workers", "interfaces"}
    (seen,) = report["workers"]
    assert seen["pid"] == worker.proc.pid and "http.request" in seen["channels"]
    (interface,) = report["interfaces"]
    assert interface["pid"] == serve.proc.pid and interface["interfaces"] == ["http"]
    row = report["channels"]["http.request"]
    assert row["workers"] == 1 and row["produced_by"] == 1 and row["capacity"] == 100
    text = status(redis_layer_url).stdout
    assert "http.request" in text and "workers: 1" in text and "interfaces: 1" in text


def test_a_channel_without_a_worker_is_a_problem(redis_layer_url, gateways_process):
    start_serve(gateways_process, redis_layer_url)
    worker = start_worker(gateways_process, redis_layer_url)
    assert status(redis_layer_url).returncode == 0
    assert worker.stop(signal.SIGTERM) == 0  # a clean stop takes its heartbeat back
    done = status(redis_layer_url)
    assert done.returncode == 1
    assert "problem: http.request: interfaces produce it and no live worker receives it" in (
        done.stdout
    )


async def test_a_message_waiting_longer_than_max_age_is_a_problem(redis_layer_url):
    layer = get_layer(redis_layer_url)
    await layer.send("jobs.nobody", {"n": 1})
    await layer.close()
    done = status(redis_layer_url, "--max-age", "0.001", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 1
    assert report["channels"]["jobs.nobody"]["depth"] == 1
    assert report["problems"][0].startswith("jobs.nobody: the oldest message waited")
