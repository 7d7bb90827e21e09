"""The pytest plugin installed with gateways (entry point ``pytest11``: ``gateways``).

Fixtures:
    gateways_layer_url: The URL ``gateways_layer`` builds from: the test's
        ``@pytest.mark.gateways_layer(URL)`` marker, else ``--gateways-layer URL``, else
        ``memory://``. Override the fixture to choose in code.
    gateways_layer: A fresh layer for the test (flushed before and after, then closed).
        Needs ``pytest-asyncio``.
    gateways_server: A factory running ``gateways serve ARGS`` until the test ends
        (SIGTERM, then SIGKILL past the grace); returns a ``GatewaysProcess``.

This module imports nothing heavy: pytest loads it in every session of a project that
has gateways installed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from gateways.layers import BaseChannelLayer
    from gateways.testing.process import GatewaysProcess

MARKER = "gateways_layer(url): the layer URL the gateways_layer fixture builds for this test"

#: Flags that make a bundled plugin listen on a free port, unless the test set its own.
FREE_PORTS = {
    "http": ("--http-port", "0", ("--http-port", "--http-endpoint")),
    "email": ("--smtp-port", "0", ("--smtp-port",)),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--gateways-layer URL``."""
    group = parser.getgroup("gateways")
    group.addoption(
        "--gateways-layer",
        default=None,
        metavar="URL",
        help="layer URL for the gateways_layer fixture (default memory://)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``gateways_layer`` marker."""
    config.addinivalue_line("markers", MARKER)


@pytest.fixture
def gateways_layer_url(request: pytest.FixtureRequest) -> str:
    """The layer URL for this test (marker, then ``--gateways-layer``, then memory://)."""
    marker = request.node.get_closest_marker("gateways_layer")
    if marker is not None:
        return str(marker.args[0] if marker.args else marker.kwargs["url"])
    option = request.config.getoption("--gateways-layer")
    return str(option) if option else "memory://"


async def _gateways_layer(gateways_layer_url: str) -> AsyncIterator[BaseChannelLayer]:
    """A fresh layer: flushed before the test and after it, then closed."""
    from gateways.layers import get_layer

    layer = get_layer(gateways_layer_url)
    await layer.flush()
    try:
        yield layer
    finally:
        await layer.flush()
        await layer.close()


def _needs_pytest_asyncio(gateways_layer_url: str) -> None:
    pytest.fail("the gateways_layer fixture needs pytest-asyncio (pip install pytest-asyncio)")


gateways_layer: Any
try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - depends on the environment
    gateways_layer = pytest.fixture(_needs_pytest_asyncio, name="gateways_layer")
else:
    gateways_layer = pytest_asyncio.fixture(_gateways_layer, name="gateways_layer")


def free_port_flags(args: Sequence[str]) -> list[str]:
    """``--http-port 0`` and the like for the plugins ``args`` choose, unless given."""
    chosen = {args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--plugin"}
    chosen |= {arg.split("=", 1)[1] for arg in args if arg.startswith("--plugin=")}
    flags: list[str] = []
    for plugin, (flag, value, own) in FREE_PORTS.items():
        given = any(arg.split("=", 1)[0] in own for arg in args)
        if plugin in chosen and not given:
            flags += [flag, value]
    return flags


def import_path() -> str:
    """This session's import path, so the server imports what the tests import."""
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    extra = os.environ.get("PYTHONPATH")
    return os.pathsep.join([*paths, extra] if extra else paths)


@pytest.fixture
def gateways_server() -> Iterator[Callable[..., GatewaysProcess]]:
    """Start ``gateways serve ARGS`` and wait for ``gateways ready``.

    ``gateways_server("--plugin", "http", "myapp:routes")`` returns a
    :class:`~gateways.testing.GatewaysProcess` (``.url``, ``.port("smtp")``, ``.lines``).
    Listeners of the bundled HTTP and email plugins get free ports unless the arguments
    set them; the test's import path is the server's. Keyword arguments go to
    ``GatewaysProcess`` (``env``, ``cwd``, ``ready``, ``timeout``, ``grace``). Each
    server gets SIGTERM at the end of the test, and SIGKILL past its grace.
    """
    from gateways.testing.process import GatewaysProcess

    started: list[GatewaysProcess] = []

    def start(*args: str, **kwargs: Any) -> GatewaysProcess:
        env = {"PYTHONPATH": import_path(), **kwargs.pop("env", {})}
        command = ["serve", *args, *free_port_flags(args)]
        process = GatewaysProcess(command, env=env, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()
