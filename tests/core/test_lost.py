"""WorkerWatch: a worker whose heartbeat lapses while it held a request is given up on
a beat later, and only for requests still waiting (gateways.lost)."""

from __future__ import annotations

from gateways.layers import get_layer
from gateways.lost import HOLDING_LIMIT, WorkerWatch, holding


def _watch(waiting: dict) -> WorkerWatch:
    return WorkerWatch(get_layer("memory://"), waiting)


def test_a_vanished_workers_requests_are_lost_one_beat_later() -> None:
    lost: list[str] = []
    waiting = {"http.r!1": lambda: lost.append("1"), "http.r!2": lambda: lost.append("2")}
    watch = _watch(waiting)
    watch.check([{"name": "w1", "holding": ["http.r!1"]}, {"name": "w2", "holding": ["http.r!2"]}])
    watch.check([{"name": "w2", "holding": ["http.r!2"]}])  # w1 gone: suspected
    assert lost == []
    watch.check([{"name": "w2", "holding": ["http.r!2"]}])  # still waiting: lost
    assert lost == ["1"] and "http.r!1" not in waiting and "http.r!2" in waiting


def test_an_answer_that_arrives_within_the_beat_is_not_lost() -> None:
    lost: list[str] = []
    waiting = {"http.r!1": lambda: lost.append("1")}
    watch = _watch(waiting)
    watch.check([{"name": "w1", "holding": ["http.r!1"]}])
    watch.check([])  # a clean stop: the record went after its last answer...
    del waiting["http.r!1"]  # ...which the interface then read
    watch.check([])
    assert lost == []


def test_a_worker_lists_only_process_specific_reply_channels_and_a_bounded_number() -> None:
    assert holding(["http.r!1", "plain", "ws.x!2"]) == ["http.r!1", "ws.x!2"]
    assert len(holding(f"h!{n}" for n in range(5000))) == HOLDING_LIMIT
