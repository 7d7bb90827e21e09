"""Settings: declared once as :class:`Option`, read from flags, then ``GATEWAYS_*``
environment variables, then a TOML ``--config`` file, in that order of precedence.

Each option is one name with three spellings: ``http_port`` is ``--http-port``,
``GATEWAYS_HTTP_PORT``, and ``http_port = 8000`` (or ``port = 8000`` under ``[http]``)
in the file. The same file serves ``gateways serve`` and ``gateways worker``; each
command reads the options it knows and ignores the rest.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "GATEWAYS_"
COMMANDS = ("serve", "worker")


class ConfigError(ValueError):
    """A setting has a bad value; the message names the setting and where it came from."""


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _bounded(kind: Callable[[str], Any], zero_ok: bool) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        value = kind(text)
        if value < 0 or (value == 0 and not zero_ok):
            raise ValueError(f"must be {'0 or more' if zero_ok else 'positive'}, got {text!r}")
        return value

    convert.__name__ = f"{'non-negative' if zero_ok else 'positive'} {kind.__name__}"
    return convert


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """A converter that also refuses zero and negative numbers."""
    return _bounded(kind, zero_ok=False)


def not_negative(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """A converter that also refuses negative numbers (0 usually means "off")."""
    return _bounded(kind, zero_ok=True)


@dataclass(frozen=True)
class Option:
    """A setting a plugin (or the core) understands."""

    name: str
    help: str
    type: Callable[[str], Any] = str
    default: Any = None
    multiple: bool = False
    metavar: str | None = None
    commands: tuple[str, ...] = ("serve",)
    plugin: str = field(default="", compare=False)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def is_flag(self) -> bool:
        return self.type is bool

    def convert(self, value: Any, source: str) -> Any:
        """Turn a raw value (str from a flag or variable, anything from TOML) into the
        option's type, or raise ConfigError naming ``source``."""
        if self.multiple:
            if isinstance(value, str):
                items: Iterable[Any] = [v for v in value.split(",") if v.strip()]
            elif isinstance(value, list):
                items = value
            else:
                raise ConfigError(f"{source}: expected a list, got {value!r}")
            return [self._one(item, source) for item in items]
        return self._one(value, source)

    def _one(self, value: Any, source: str) -> Any:
        kind = parse_bool if self.type is bool else self.type
        if not isinstance(value, str):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        try:
            return kind(value.strip())
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: {exc}") from None


class Settings(dict[str, Any]):
    """Resolved settings by option name, plus the raw file for nested plugin tables."""

    def __init__(
        self,
        values: Mapping[str, Any],
        file: Mapping[str, Any] | None = None,
        path: Path | None = None,
    ) -> None:
        super().__init__(values)
        self.file: Mapping[str, Any] = file or {}
        self.path = path

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def table(self, name: str) -> Mapping[str, Any]:
        """A raw table of the config file (``[irc]``, ``[layer]``), empty when absent."""
        value = self.file.get(name, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"config file: [{name}] must be a table")
        return value


def add_arguments(parser: argparse.ArgumentParser, options: Iterable[Option]) -> None:
    """Add one flag per option, grouped by plugin; unset flags stay out of the namespace."""
    groups: dict[str, Any] = {}
    for option in options:
        title = f"{option.plugin} options" if option.plugin else "options"
        group = groups.get(title) or groups.setdefault(title, parser.add_argument_group(title))
        default_text = "" if option.default in (None, [], ()) else f" [{option.default}]"
        kwargs: dict[str, Any] = {
            "dest": option.name,
            "default": argparse.SUPPRESS,
            "help": option.help + default_text,
        }
        if option.is_flag:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = option.metavar or option.name.split("_")[-1].upper()
            kwargs["action"] = "append" if option.multiple else "store"
        group.add_argument(option.flag, **kwargs)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"--config: no such file {os.fspath(path)!r}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {os.fspath(path)}: not valid TOML: {exc}") from None


def _file_value(option: Option, document: Mapping[str, Any]) -> tuple[bool, Any, str]:
    """Find an option in the file: ``http_port``, ``http-port``, or ``port`` in the table
    ``[http]`` (named by the option's first word, or by the plugin that declared it)."""
    places: list[tuple[Mapping[str, Any], str, str]] = [(document, "", option.name)]
    section, _, rest = option.name.partition("_")
    if rest:
        places.append((document.get(section, {}), section, rest))
    if option.plugin and option.plugin != section:
        places.append((document.get(option.plugin, {}), option.plugin, option.name))
    for table, title, name in places:
        if not isinstance(table, Mapping):
            continue
        for key in (name, name.replace("_", "-")):
            if key in table:
                where = f"[{title}] {key}" if title else key
                return True, table[key], f"config file: {where}"
    return False, None, ""


def resolve(
    options: Iterable[Option],
    args: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    config_path: str | os.PathLike[str] | None = None,
) -> Settings:
    """Settle every option: flag, else environment variable, else file, else default."""
    environ = os.environ if environ is None else environ
    document = read_config_file(config_path) if config_path else {}
    values: dict[str, Any] = {}
    for option in options:
        if option.name in args:
            raw, source = args[option.name], option.flag
            values[option.name] = raw if option.is_flag else option.convert(raw, source)
        elif option.env in environ:
            values[option.name] = option.convert(environ[option.env], option.env)
        else:
            found, raw, source = _file_value(option, document)
            if found:
                values[option.name] = option.convert(raw, source)
            else:
                values[option.name] = (
                    list(option.default or ()) if option.multiple else option.default
                )
    path = Path(config_path) if config_path else None
    return Settings(values, document, path)
