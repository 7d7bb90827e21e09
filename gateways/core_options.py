"""The core's own settings, declared through the same hook as any plugin's."""

from __future__ import annotations

from collections.abc import Sequence

from gateways.config import Option, positive
from gateways.hookspecs import hookimpl

BOTH = ("serve", "worker")
EVERY = ("serve", "worker", "status")


@hookimpl
def gateways_options() -> Sequence[Option]:
    return [
        Option(
            "layer",
            "channel layer URL (memory://, redis://host:port/db, ...)",
            default="memory://",
            metavar="URL",
            commands=EVERY,
            table_key="url",  # or url = ... in the [layer] table, beside the layer's settings
        ),
        Option(
            "plugin",
            "interface plugin to run (repeatable): an installed name or a module path",
            multiple=True,
            metavar="NAME",
        ),
        Option(
            "workers", "in-process workers (default: 1 on memory://, else 0)", type=int, metavar="N"
        ),
        Option(
            "concurrency",
            "messages each worker handles at once",
            type=positive(int),
            default=64,
            metavar="N",
            commands=BOTH,
        ),
        Option(
            "only_channels",
            "handle only channels matching this glob (repeatable)",
            multiple=True,
            metavar="GLOB",
            commands=BOTH,
        ),
        Option(
            "exclude_channels",
            "skip channels matching this glob (repeatable)",
            multiple=True,
            metavar="GLOB",
            commands=BOTH,
        ),
        Option(
            "grace",
            "seconds to finish work in flight after SIGTERM",
            type=positive(float),
            default=30.0,
            metavar="SECONDS",
            commands=BOTH,
        ),
        Option(
            "log_level",
            "debug, info, warning or error",
            default="info",
            metavar="LEVEL",
            commands=EVERY,
        ),
        Option(
            "max_age",
            "a channel whose oldest message waited longer is a problem",
            type=positive(float),
            default=10.0,
            metavar="SECONDS",
            commands=("status",),
        ),
    ]
