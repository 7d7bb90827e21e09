"""Every hook, the core's and those plugins add, is documented and exercised by a test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateways.plugins import PluginHost

ROOT = Path(__file__).resolve().parents[2]
DOCS = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
TESTS = "\n".join(
    p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.resolve() != Path(__file__).resolve()
)


def hook_names() -> list[str]:
    host = PluginHost().load_installed()
    return sorted(
        name
        for name in dir(host.hook)
        if not name.startswith("_") and getattr(host.hook, name).spec is not None
    )


HOOKS = hook_names()


def test_core_hooks_are_all_found():
    assert {"gateways_interfaces", "gateways_consumer_failed", "gateways_layer_backends"} <= set(
        HOOKS
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    assert re.search(rf"\b{hook}\b", DOCS), f"{hook} is not described anywhere in docs/"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook):
    implemented = re.search(rf"def {hook}\(", TESTS)
    called = re.search(rf"hook\.{hook}\b", TESTS)
    assert implemented or called, f"no test implements or calls {hook}"
