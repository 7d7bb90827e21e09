"""Every example in the docs runs: a doc that does not is a bug.

- TOML blocks parse, every key is one gateways reads (no typo passes), and every value
  converts for both commands;
- shell blocks are valid shell (``bash -n``), and each ``gateways`` command line in them
  (and in the systemd and supervisord files) parses and settles its settings exactly as
  the real command does, with ``--config`` pointing at the page's own TOML block;
- Python blocks run, and a ``routes`` they define builds a router;
- ``::: path`` lines (mkdocstrings: the API rendered from docstrings) name real objects.
"""

from __future__ import annotations

import os
import pkgutil
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateways import cli
from gateways.config import check_file_keys, resolve
from gateways.plugins import get_plugin_host
from gateways.routing import load_routing

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
#: A fenced block, also indented (inside a list item or an admonition: ``!!! note``).
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[a-z]*)\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
#: A mkdocstrings directive (``::: gateways.hookspecs``): rendered from docstrings, not run.
DIRECTIVE = re.compile(r"^::: (?P<path>\S+)$", re.M)
GATEWAYS = re.compile(r"(?:^|[\s;&|(])(?:\S*/)?gateways\s+(serve|worker|status|plugins)\b")

#: Python examples that need a project of the reader's own to import.
NEEDS_USER_PROJECT = {"from mysite.wsgi import application"}


@dataclass(frozen=True)
class Block:
    page: Path
    lang: str
    body: str
    line: int

    @property
    def id(self) -> str:
        return f"{self.page.name}:{self.line}"


def blocks(*langs: str) -> list[Block]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            if match["lang"] in langs:
                line = text.count("\n", 0, match.start()) + 1
                body = textwrap.dedent(match["body"])
                found.append(Block(page, match["lang"], body, line))
    return found


def params(*langs: str) -> list[object]:
    return [pytest.param(b, id=b.id) for b in blocks(*langs)]


def test_every_block_says_its_language():
    unlabeled = [b.id for b in blocks("")]
    assert not unlabeled, f"label these code blocks (sh, toml, python, ini or text): {unlabeled}"


def test_every_api_directive_names_an_object():
    """``::: path`` lines are not code to run, but the object they render must exist."""
    directives = [(p.name, m["path"]) for p in PAGES for m in DIRECTIVE.finditer(p.read_text())]
    assert directives, "the hook reference renders hookspecs with ::: lines"
    missing = [f"{page}: {path}" for page, path in directives if not importable(path)]
    assert not missing, f"nothing to render for: {missing}"


def importable(path: str) -> bool:
    try:
        pkgutil.resolve_name(path)
    except (ImportError, AttributeError, ValueError):
        return False
    return True


# -- TOML -------------------------------------------------------------------------------


def every_option():
    plugins = get_plugin_host()
    return plugins, plugins.options()


@pytest.mark.parametrize("block", params("toml"))
def test_toml_examples_are_valid_settings(block, tmp_path):
    import tomllib

    document = tomllib.loads(block.body)
    if "project" in document:  # a plugin's pyproject.toml: registered where gateways looks
        assert "gateways" in document["project"]["entry-points"], block.id
        return
    plugins, options = every_option()
    check_file_keys(
        [*options, *(cli.Option(k, "") for k in cli.FILE_KEYS)], document, cli.FREE_TABLES
    )
    path = tmp_path / "gateways.toml"
    path.write_text(block.body)
    for command in ("serve", "worker"):
        resolve(plugins.options(command), {}, {}, path)


# -- shell ------------------------------------------------------------------------------


def commands(text: str) -> Iterator[str]:
    """Logical lines (continuations joined) that run ``gateways``."""
    for line in text.replace("\\\n", " ").splitlines():
        if GATEWAYS.search(line.split(" #")[0]):
            yield line.split(" #")[0]


def gateways_argv(line: str, config: Path) -> list[str]:
    words = shlex.split(line[GATEWAYS.search(line).start() :].strip(" ;&|("))
    ends = [i for i, w in enumerate(words) if w in ("||", "&&", "|", ";")]  # `cmd || echo`
    argv = words[1 : ends[0] if ends else None]
    for i in range(1, len(argv)):
        if argv[i - 1] == "--config":
            argv[i] = str(config)
    return [w for w in argv if w != "&"]


def page_config(page: Path, tmp_path: Path) -> Path:
    """The page's first TOML block, where its commands say ``--config``."""
    found = [b for b in blocks("toml") if b.page == page]
    path = tmp_path / "page.toml"
    path.write_text(found[0].body if found else "")
    return path


def settle(argv: list[str]) -> None:
    plugins = get_plugin_host()
    cli._preload_plugins(plugins, argv)
    args = cli.build_parser(plugins).parse_args(argv)
    if args.command in ("serve", "worker", "status"):
        settings = cli.settle(plugins, args.command, args)
        assert args.command != "worker" or cli.app_spec(args, settings), "worker without APP"


@pytest.mark.parametrize("block", params("sh"))
def test_shell_examples_are_valid_and_their_gateways_commands_parse(block, tmp_path, monkeypatch):
    checked = subprocess.run(["bash", "-n"], input=block.body, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr
    for name in [n for n in os.environ if n.startswith("GATEWAYS_")]:
        monkeypatch.delenv(name)
    config = page_config(block.page, tmp_path)
    for line in commands(block.body):
        try:
            settle(gateways_argv(line, config))
        except SystemExit as exc:  # argparse refused it
            pytest.fail(f"{block.id}: {line!r} does not parse (exit {exc.code})")


@pytest.mark.parametrize("block", params("ini"))
def test_service_files_run_gateways_commands_that_parse(block, tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("GATEWAYS_")]:
        monkeypatch.delenv(name)
    config = page_config(block.page, tmp_path)
    lines = [
        v
        for k, _, v in (line.partition("=") for line in block.body.splitlines())
        if k.strip() in ("ExecStart", "command")
    ]
    assert lines, f"{block.id}: no ExecStart= or command= line"
    for line in lines:
        settle(gateways_argv(line, config))


# -- Python -----------------------------------------------------------------------------


@pytest.mark.parametrize("block", params("python"))
def test_python_examples_run(block, tmp_path, monkeypatch):
    if any(needs in block.body for needs in NEEDS_USER_PROJECT):
        compile(block.body, block.id, "exec")  # runs only inside the reader's project
        return
    module = tmp_path / "doc_example.py"
    module.write_text(block.body)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "doc_example", raising=False)
    namespace: dict[str, object] = {"__name__": "doc_example"}
    exec(compile(block.body, str(module), "exec"), namespace)
    if "routes" in namespace:
        load_routing("doc_example:routes")
