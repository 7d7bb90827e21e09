"""``gateways serve | worker | plugins``: parse, settle settings, hand over to the runner.

Exit status: 0 after a clean stop, 1 when a running server fails, 2 for a usage or
settings error (unknown plugin, bad value), with a message naming the culprit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from gateways import __version__
from gateways.config import (
    ConfigError,
    Option,
    Settings,
    add_arguments,
    check_file_keys,
    resolve,
    unknown_variables,
)
from gateways.plugins import CORE, PluginHost, PluginLoadError, UnknownPlugin, get_plugin_host
from gateways.routing import Routing, load_routing

USAGE_ERROR = 2
log = logging.getLogger("gateways")


def build_parser(plugins: PluginHost) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateways",
        description="Interface servers, channel layers and workers for many protocols.",
    )
    parser.add_argument("--version", action="version", version=f"gateways {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run interface servers (and embedded workers)")
    serve.add_argument("app", nargs="?", metavar="APP", help="routing, as module:attribute")
    worker = commands.add_parser("worker", help="run consumers from the channel layer")
    worker.add_argument(
        "app", nargs="?", metavar="APP", help="routing, as module:attribute (or app in the file)"
    )
    status = commands.add_parser(
        "status", help="channels, workers and interfaces, as the layer sees them"
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.add_argument("--watch", action="store_true", help="print again every 2 seconds")
    for name, sub in (("serve", serve), ("worker", worker), ("status", status)):
        sub.add_argument("--config", metavar="FILE", help="TOML settings file")
        add_arguments(sub, plugins.options(name))

    listing = commands.add_parser("plugins", help="list installed plugins")
    listing.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _preload_plugins(plugins: PluginHost, argv: Sequence[str]) -> None:
    """Register module-path plugins named on the command line, so their flags parse."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    for name in known.plugin:
        plugins.require(name)


def early_loop(argv: Sequence[str]) -> str:
    """``--loop`` as :func:`settle` will find it (flag, variable, file), read before any
    plugin loads: the loop has to exist before Twisted's reactor, and that before them."""
    from gateways.core_options import LOOP

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--loop")
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv[1:])
    given = {} if known.loop is None else {"loop": known.loop}
    choice: str = resolve([LOOP], given, os.environ, known.config)["loop"]
    return choice


#: Keys of the config file and variables that are not options of any plugin.
FILE_KEYS = ("app",)
FREE_TABLES = ("layer",)  # the layer checks its own settings
ENV_KEYS = ("GATEWAYS_APP",)
#: Arguments of the command itself, not settings.
NOT_SETTINGS = ("command", "app", "config", "json", "watch")


def settle(plugins: PluginHost, command: str, args: argparse.Namespace) -> Settings:
    """Resolve the settings of ``command`` and let the plugins in use check them."""
    given = {k: v for k, v in vars(args).items() if k not in NOT_SETTINGS}
    options = plugins.options(command)
    core = resolve([o for o in options if not o.plugin], given, os.environ, args.config)
    chosen = list(core.get("plugin") or ()) if command == "serve" else []
    for name in chosen:
        plugins.require(name)
    # A plugin not chosen reads nothing here, so its values are neither converted nor
    # checked (a worker reads every plugin's worker-side options).
    used = [o for o in options if not o.plugin or o.plugin in chosen or command == "worker"]
    settings = resolve(used, given, os.environ, args.config)
    if settings.file:
        known = [*plugins.options(), *(Option(key, "") for key in FILE_KEYS)]
        check_file_keys(known, settings.file, FREE_TABLES)
    try:
        plugins.only([CORE, *chosen], "gateways_configure")(settings=settings)
    except ConfigError as exc:
        raise ConfigError(named_source(str(exc), settings)) from None
    return settings


def named_source(problem: str, settings: Settings) -> str:
    """Put the real source in a check's ``--flag: ...`` message when the value came from
    the environment or the file (a plugin's check knows only the flag)."""
    flag, sep, rest = problem.partition(": ")
    if sep and flag.startswith("--"):
        name = flag[2:].replace("-", "_")
        if name in settings.sources and settings.sources[name] != "default":
            return f"{settings.source(name)}: {rest}"
    return problem


def app_spec(args: argparse.Namespace, settings: Settings) -> str | None:
    spec = args.app or os.environ.get("GATEWAYS_APP") or settings.file.get("app")
    if spec is not None and not isinstance(spec, str):
        raise ConfigError(f"app: expected module:attribute, got {spec!r}")
    return spec


def load_app(spec: str | None) -> Routing | None:
    if spec is None:
        return None
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return load_routing(spec)
    except (ImportError, ValueError, TypeError) as exc:
        raise ConfigError(f"APP {spec}: {exc}") from None


def check_interfaces(plugins: PluginHost, names: list[str]) -> None:
    interfaces = [n for n in plugins.names() if plugins.implements(n, "gateways_interfaces")]
    if not names:
        raise ConfigError(
            f"serve needs at least one --plugin (interface plugins installed: "
            f"{', '.join(interfaces) or 'none'})"
        )
    for name in names:
        if not plugins.implements(name, "gateways_interfaces"):
            raise ConfigError(
                f"--plugin {name}: that plugin runs no interface "
                f"(interface plugins: {', '.join(interfaces) or 'none'})"
            )


def print_plugins(plugins: PluginHost, as_json: bool) -> None:
    records = plugins.describe()
    if as_json:
        print(json.dumps(records, indent=2, default=str))
        return
    for record in records:
        kind = "interface" if record["interface"] else "extension"
        print(f"{record['name']} {record['version']} ({kind})")
        for key in ("produces", "consumes", "layer_schemes"):
            if record[key]:
                print(f"  {key.replace('_', ' ')}: {', '.join(record[key])}")
        for option in record["options"]:
            print(f"  {option['flag'] or option['file']:<24} {option['help']}")


def configure_logging(settings: Settings) -> None:
    """``--log-level`` and ``--log-format``, or ``--log-config`` instead (gateways/logs.py);
    with a file, only a ``--log-level`` given explicitly overrides it."""
    from gateways import logs

    level = settings["log_level"]
    if settings.get("log_config") and settings.sources.get("log_level") == "default":
        level = None
    try:
        logs.setup(level, settings["log_format"], settings.get("log_config"))
    except ConfigError as exc:
        raise ConfigError(named_source(str(exc), settings)) from None


def run(argv: Sequence[str]) -> int:
    if argv[:1] == ["serve"]:
        # Before any plugin loads, so nothing can install another reactor first.
        from gateways.reactor import install_asyncio_reactor

        install_asyncio_reactor(early_loop(argv))
    plugins = get_plugin_host()
    _preload_plugins(plugins, argv)
    args = build_parser(plugins).parse_args(argv)
    if args.command == "plugins":
        print_plugins(plugins, args.json)
        return 0
    settings = settle(plugins, args.command, args)
    configure_logging(settings)
    if args.command == "status":
        from gateways import runner

        return runner.status(settings, plugins, args.json, args.watch)
    for warning in unknown_variables(plugins.options(), os.environ, ENV_KEYS):
        log.warning("%s", warning)
    spec = app_spec(args, settings)
    if spec is None and args.command == "worker":
        raise ConfigError(
            "worker needs an APP: give module:attribute, GATEWAYS_APP, or app in --config"
        )
    if settings.get("reload"):
        from gateways.reload import run_reloading  # the child loads the app, not this one

        if args.command == "serve":
            check_interfaces(plugins, settings["plugin"])  # a usage error, not a child's
        return run_reloading(argv, settings["reload_dir"], settings["grace"])
    routing = load_app(spec)
    from gateways import runner

    if args.command == "serve":
        check_interfaces(plugins, settings["plugin"])
        return runner.serve(settings, plugins, routing, spec)
    assert routing is not None
    return runner.work(settings, plugins, routing)


def main(argv: Sequence[str] | None = None) -> Any:
    try:
        return run(list(sys.argv[1:] if argv is None else argv))
    except (ConfigError, UnknownPlugin, PluginLoadError) as exc:
        print(f"gateways: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
