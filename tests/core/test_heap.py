"""gateways.heap: the serve and worker processes freeze their start-up heap and collect
the young generation less often; a library user's process is left alone."""

from __future__ import annotations

import gc
import re
import subprocess
import sys

import pytest

from gateways import heap
from tests.core.test_serve import PLUGIN, LineClient


@pytest.fixture
def restored_collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def frozen_and_young(text: str) -> tuple[int, int]:
    found = re.fullmatch(r"frozen (\d+) young (\d+)", text)
    assert found, text
    return int(found[1]), int(found[2])


def test_settle_freezes_what_start_up_built_and_raises_the_young_threshold(restored_collector):
    gc.set_threshold(700, 10, 10)
    before = gc.get_freeze_count()
    heap.settle()
    assert gc.get_freeze_count() > before + 1000  # this process's modules, at least
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, 10, 10)


def test_settle_keeps_a_young_threshold_already_set_higher(restored_collector):
    gc.set_threshold(50_000, 20, 30)
    heap.settle()
    assert gc.get_threshold() == (50_000, 20, 30)


def test_importing_gateways_leaves_the_collector_as_python_set_it():
    def collector(imports: str) -> str:
        code = f"import gc{imports}; print(gc.get_freeze_count(), gc.get_threshold())"
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stdout

    bare = collector("")
    assert bare.startswith("0 ")
    assert collector(", gateways, gateways.runner, gateways.worker, gateways.heap") == bare


def test_a_serve_process_runs_with_its_start_up_heap_frozen(gateways_process):
    process = gateways_process("serve", "core_app:routes", *PLUGIN)
    client = LineClient(process.address("line"))
    try:
        frozen, young = frozen_and_young(client.ask("heap"))
    finally:
        client.close()
    assert frozen > 10_000  # Twisted, the plugins and the app
    assert young == heap.YOUNG_THRESHOLD
