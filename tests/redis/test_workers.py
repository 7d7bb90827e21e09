"""Separate worker processes on one Redis layer, splitting channels between them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(30)


async def test_only_and_exclude_channels_split_work(redis_layer_url, open_layer, gateways_process):
    layer = open_layer(redis_layer_url)
    url = ["--layer", redis_layer_url]
    a_only = gateways_process("worker", "redis_app:routes", *url, "--only-channels", "jobs.a")
    rest = gateways_process(
        "worker",
        "redis_app:routes",
        *url,
        "--only-channels",
        "jobs.*",
        "--exclude-channels",
        "jobs.a",
    )
    assert "receiving on jobs.a" in a_only.output
    assert "receiving on jobs.b" in rest.output and "jobs.a" not in rest.output
    report = await layer.new_channel("test.report")
    for n in range(10):
        await layer.send("jobs.a", {"report_to": report, "n": n})
        await layer.send("jobs.b", {"report_to": report, "n": n})
    got = [(await layer.receive([report], timeout=5))[1] for _ in range(20)]
    assert {g["pid"] for g in got if g["channel"] == "jobs.a"} == {a_only.proc.pid}
    assert {g["pid"] for g in got if g["channel"] == "jobs.b"} == {rest.proc.pid}
    assert sorted(g["n"] for g in got) == sorted(list(range(10)) * 2)


async def test_two_workers_share_one_channel(redis_layer_url, open_layer, gateways_process):
    url = redis_layer_url + "?capacity=1000"
    layer = open_layer(url)
    workers = [gateways_process("worker", "redis_app:routes", "--layer", url) for _ in range(2)]
    report = await layer.new_channel("test.report")
    for n in range(200):
        await layer.send("jobs.a", {"report_to": report, "n": n})
    got = [(await layer.receive([report], timeout=5))[1] for _ in range(200)]
    assert sorted(g["n"] for g in got) == list(range(200))  # each exactly once
    assert {g["pid"] for g in got} <= {w.proc.pid for w in workers}
