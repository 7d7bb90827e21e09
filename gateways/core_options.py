"""The core's own settings, declared through the same hook as any plugin's."""

from __future__ import annotations

from collections.abc import Sequence

from gateways.config import Option, port, positive
from gateways.hookspecs import hookimpl
from gateways.logs import log_format
from gateways.reactor import event_loop

BOTH = ("serve", "worker")
EVERY = ("serve", "worker", "status")

#: Read before the others: ``serve`` makes its loop before any plugin loads.
LOOP = Option(
    "loop",
    "event loop: auto (uvloop when installed), asyncio or uvloop",
    type=event_loop,
    default="auto",
    metavar="LOOP",
    commands=BOTH,
)


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
        LOOP,
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
            "log_format",
            "text, or json: one JSON object a line",
            type=log_format,
            default="text",
            metavar="FORMAT",
            commands=EVERY,
        ),
        Option(
            "log_config",
            "logging config file (dictConfig in .json/.toml/.yaml, else fileConfig INI), "
            "applied instead of the built-in set-up",
            metavar="FILE",
            commands=EVERY,
        ),
        Option(
            "reload",
            "restart when a .py file changes (development only)",
            type=bool,
            default=False,
            commands=BOTH,
        ),
        Option(
            "reload_dir",
            "directory --reload watches (repeatable; default: the current directory)",
            multiple=True,
            metavar="DIR",
            commands=BOTH,
        ),
        Option(
            "metrics_port",
            "serve Prometheus /metrics, /ready and /live on this port (0: any free port)",
            type=port,
            metavar="PORT",
            commands=BOTH,
        ),
        Option(
            "metrics_bind",
            "address of the metrics port",
            default="127.0.0.1",
            metavar="HOST",
            commands=BOTH,
        ),
        Option(
            "max_age",
            "a channel whose oldest message waited longer is a problem",
            type=positive(float),
            default=10.0,
            metavar="SECONDS",
            commands=("status",),
        ),
        Option(
            "web",
            "serve a live status page on this port (0: any free port)",
            type=port,
            metavar="PORT",
            commands=("status",),
        ),
        Option(
            "web_bind",
            "address of the status page",
            default="127.0.0.1",
            metavar="HOST",
            commands=("status",),
        ),
    ]
