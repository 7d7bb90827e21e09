"""gateways.testing as users get it: the pytest plugin (entry point ``pytest11``) in a
project of their own, and the layer conformance suite as docs/layers.md shows it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]

FIXTURES = """
import pytest

from gateways.layers.memory import InMemoryChannelLayer


async def test_default_is_a_fresh_memory_layer(gateways_layer, gateways_layer_url):
    assert gateways_layer_url == "memory://"
    assert isinstance(gateways_layer, InMemoryChannelLayer)
    assert await gateways_layer.receive(["left.over"], timeout=0.01) == (None, None)
    await gateways_layer.send("left.over", {})


@pytest.mark.gateways_layer("memory://?capacity=7")
async def test_marker_picks_the_url(gateways_layer):
    assert gateways_layer.capacity == 7


def test_option_picks_the_url(gateways_layer_url):
    assert gateways_layer_url == "memory://?capacity=3"
"""


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A pytest session of a project of its own (strict asyncio mode, no conftest)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    options = ["-o", "asyncio_mode=strict", "--rootdir", str(folder), str(folder)]
    return subprocess.run(
        [*command, *options], cwd=folder, capture_output=True, text=True, timeout=100
    )


def summary(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr


def test_fixtures_of_the_installed_plugin(tmp_path):
    # strict mode: these async tests run because gateways_layer asks for an event loop
    marked = FIXTURES.replace("\nasync def", "\n@pytest.mark.asyncio\nasync def")
    (tmp_path / "test_uses_fixtures.py").write_text(marked)
    default = run_pytest(tmp_path, "-k", "not option")
    assert re.search(r"\b2 passed", summary(default)), default.stdout + default.stderr
    chosen = run_pytest(tmp_path, "-k", "option", "--gateways-layer", "memory://?capacity=3")
    assert re.search(r"\b1 passed", summary(chosen)), chosen.stdout + chosen.stderr


def doc_example(page: str, needle: str) -> str:
    text = (ROOT / "docs" / page).read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    (found,) = [b for b in blocks if needle in b]
    return found


def test_the_documented_third_party_layer_passes_the_conformance_suite(tmp_path):
    (tmp_path / "test_conformance.py").write_text(doc_example("layers.md", "LayerConformance"))
    result = run_pytest(tmp_path)
    # every case passes: nothing failed, errored or was skipped
    assert re.fullmatch(r"[1-9]\d+ passed in .*", summary(result)), result.stdout + result.stderr


def test_a_layer_that_breaks_the_contract_fails_the_suite(tmp_path):
    broken = doc_example("layers.md", "LayerConformance").replace(
        '"""Your layer: here, the memory layer under another name."""',
        "def capacity_of(self, channel):\n        return 10**9  # never full",
    )
    (tmp_path / "test_conformance.py").write_text(broken)
    result = run_pytest(tmp_path, "-k", "capacity")
    assert re.search(r"\b[1-9]\d* failed", summary(result)), result.stdout + result.stderr
