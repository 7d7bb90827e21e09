"""The docs site builds with ``mkdocs build --strict``, and every page is in it.

The strict build runs here rather than in scripts/test.sh: whoever edits docs/ runs
tests/docs, and this is where a broken link or anchor, a page missing from the nav or a
docstring mkdocstrings cannot render must fail. It takes a few seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mkdocs.config import load_config

from gateways.hookspecs import all_hook_names

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def nav_pages(nav: list[Any]) -> Iterator[str]:
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            yield from nav_pages(value)
        else:
            yield value


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` into ``site``."""
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config)]
    return subprocess.run(
        [*command, "--site-dir", str(site)],
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    built = build(ROOT / "mkdocs.yml", site)
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stderr}"
    return site


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    nav = list(nav_pages(load_config(str(ROOT / "mkdocs.yml"))["nav"]))
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert sorted(set(nav)) == pages, "mkdocs.yml's nav and the pages of docs/ differ"
    assert len(nav) == len(set(nav)), f"a page is twice in the nav: {nav}"


def test_the_site_builds_with_every_page(site: Path) -> None:
    for page in DOCS.glob("*.md"):
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"{page.name} was not built"
    assert not (site / "requirements.txt").exists(), "docs/requirements.txt is not a page"


def test_every_hook_is_rendered_from_its_docstring(site: Path) -> None:
    html = (site / "hooks" / "index.html").read_text()
    for hook in all_hook_names():
        assert f'id="gateways.hookspecs.{hook}"' in html, f"{hook} missing from docs/hooks.md"
    assert ":class:`" not in html, "a Sphinx role reached the page unconverted"


def test_the_api_pages_render_the_sdk_modules(site: Path) -> None:
    html = (site / "api" / "index.html").read_text()
    for name in ("gateways.plugin.Interface", "gateways.layers.base.BaseChannelLayer.send"):
        assert f'id="{name}"' in html, f"{name} is not rendered"
    assert 'id="gateways.testing.' in html, "gateways.testing is not rendered"


def test_the_concepts_diagram_is_in_the_built_page(site: Path) -> None:
    html = (site / "concepts" / "index.html").read_text()
    sources = re.findall(r'<img [^>]*src="([^"]+\.svg)"', html)
    assert sources, "the concepts page shows no diagram"
    for source in sources:
        svg = ET.parse((site / "concepts" / source).resolve()).getroot()
        assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("viewBox"), source


def test_a_broken_link_or_anchor_fails_the_build(tmp_path: Path) -> None:
    """The strict build is worth its seconds only if our validation settings make it fail."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in DOCS.iterdir():
        if page.is_file():
            (docs / page.name).write_bytes(page.read_bytes())
    with (docs / "index.md").open("a") as index:
        index.write("\n[gone](nowhere.md) and [no anchor](cli.md#no-such-heading)\n")
    text = (ROOT / "mkdocs.yml").read_text()  # its paths are relative to its folder
    config = yaml.safe_load(text.replace("scripts/", f"{ROOT}/scripts/"))
    config["docs_dir"] = str(docs)
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    built = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0
    assert "nowhere.md" in built.stderr and "no-such-heading" in built.stderr, built.stderr


def test_the_readme_links_resolve() -> None:
    """README.md is not part of the site (GitHub shows it): its links are checked here."""
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert local, "README.md links to its docs"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
