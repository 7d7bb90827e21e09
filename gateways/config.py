"""Settings: declared once as :class:`Option`, read from flags, then ``GATEWAYS_*``
environment variables, then a TOML ``--config`` file, in that order of precedence.

Each option is one name with three spellings: ``http_port`` is ``--http-port``,
``GATEWAYS_HTTP_PORT``, and ``http_port = 8000`` (or ``port = 8000`` under ``[http]``)
in the file. The same file serves ``gateways serve`` and ``gateways worker``; each
command reads the options it knows and ignores the rest.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

ENV_PREFIX = "GATEWAYS_"
COMMANDS = ("serve", "worker", "status")


class ConfigError(ValueError):
    """A setting has a bad value; the message names the setting and where it came from."""


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def boolean(text: str) -> bool:
    """``true``/``false`` and their usual spellings (``1``, ``yes``, ``on`` ...)."""
    return parse_bool(text)


def port(text: str) -> int:
    """A TCP or UDP port number, 0 (any free port) to 65535."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"{value} is not a port number (0-65535)")
    return value


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:25`` for IPv6) as ``(host, port)``."""
    host, sep, number = text.strip().rpartition(":")
    if not sep or not host or not number.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, as [{host}]:{number}")
    return host, port(number)


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}


def byte_size(text: str) -> int:
    """A size in bytes: ``1048576``, ``512KiB``, ``10MiB``, ``1G`` (units are powers of 1024)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _SIZE_UNITS:
        raise ValueError(f"expected a size such as 1048576, 512KiB or 10MiB, got {text!r}")
    return int(float(found.group(1)) * _SIZE_UNITS[unit])


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
    """A setting a plugin (or the core) understands.

    ``file_only`` options have no flag nor variable (a table of the config file, such as
    ``[[irc.networks]]``); ``table_key`` lets a file give the value inside a table of
    the option's own name (``[layer] url = ...``, the rest of the table being options).
    """

    name: str
    help: str
    type: Callable[[str], Any] = str
    default: Any = None
    multiple: bool = False
    metavar: str | None = None
    commands: tuple[str, ...] = ("serve",)
    plugin: str = field(default="", compare=False)
    file_only: bool = False
    table_key: str | None = None

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
        if self.file_only:
            return value
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

    def initial(self) -> Any:
        """The value when nothing sets it (a fresh list for repeatable options)."""
        return list(self.default or ()) if self.multiple else self.default


class Settings(dict[str, Any]):
    """Resolved settings by option name, plus the raw file for nested plugin tables.

    ``sources`` says where each value came from (``--http-port``, ``GATEWAYS_HTTP_PORT``,
    ``config file gateways.toml: [http] port`` or ``default``), so a check made later
    still names the place the user must change: ``raise settings.error("http_port", ...)``.
    """

    def __init__(
        self,
        values: Mapping[str, Any],
        file: Mapping[str, Any] | None = None,
        path: Path | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(values)
        self.file: Mapping[str, Any] = file or {}
        self.path = path
        self.sources: dict[str, str] = dict(sources or {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        """Where the value of ``name`` came from, as a user would look for it."""
        found = self.sources.get(name)
        return found if found and found != "default" else "--" + name.replace("_", "-")

    def error(self, name: str, problem: str) -> ConfigError:
        """A ConfigError about setting ``name`` that names where its value came from."""
        return ConfigError(f"{self.source(name)}: {problem}")

    def table(self, name: str) -> Mapping[str, Any]:
        """A raw table of the config file (``[irc]``, ``[layer]``), empty when absent."""
        value = self.file.get(name, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"config file: [{name}] must be a table")
        return value


class _Declared:
    """What :func:`option` leaves in a class body until :class:`Options` collects it."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs = kwargs


def option(
    help: str,
    *,
    type: Callable[[str], Any] = str,
    default: Any = None,
    multiple: bool = False,
    metavar: str | None = None,
    commands: tuple[str, ...] = ("serve",),
    file_only: bool = False,
) -> Any:
    """Declare one setting inside an :class:`Options` class; the attribute names it."""
    return _Declared(
        {
            "help": help,
            "type": type,
            "default": default,
            "multiple": multiple,
            "metavar": metavar,
            "commands": commands,
            "file_only": file_only,
        }
    )


class Options:
    """A plugin's settings, declared once and read back typed.

    Each attribute made with :func:`option` is one :class:`Option` named after the
    attribute; its annotation is the type a plugin reads::

        class LineOptions(Options):
            line_port: int = option("TCP port", type=port, default=0)

        gateways_options = LineOptions.declare      # in the plugin's hooks
        LineOptions.read(host.settings).line_port   # in its interface

    The default lives in the declaration alone: ``read`` fills what the settings lack
    from it, so no caller restates it.
    """

    __declared__: ClassVar[dict[str, Option]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = dict(getattr(cls, "__declared__", {}))
        for name, value in list(vars(cls).items()):
            if isinstance(value, _Declared):
                declared[name] = Option(name, **value.kwargs)
                delattr(cls, name)
        cls.__declared__ = declared

    @classmethod
    def declare(cls) -> list[Option]:
        """The options, for the plugin's ``gateways_options`` hook."""
        return list(cls.__declared__.values())

    @classmethod
    def read(cls: type[_O], settings: Mapping[str, Any]) -> _O:
        """The settings of this group, each one resolved or its declared default."""
        found = cls.__new__(cls)
        for name, declared in cls.__declared__.items():
            setattr(found, name, settings[name] if name in settings else declared.initial())
        found.settings = settings
        return found

    settings: Mapping[str, Any]

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__declared__)
        return f"{type(self).__name__}({shown})"


_O = TypeVar("_O", bound=Options)


def add_arguments(parser: argparse.ArgumentParser, options: Iterable[Option]) -> None:
    """Add one flag per option, grouped by plugin; unset flags stay out of the namespace."""
    groups: dict[str, Any] = {}
    for option in options:
        if option.file_only:
            continue
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
    except OSError as exc:  # a directory, no permission
        raise ConfigError(f"--config {os.fspath(path)}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {os.fspath(path)}: not valid TOML: {exc}") from None


def _file_places(option: Option) -> list[tuple[str, str]]:
    """Where a file may set ``option``: ``(table, key)`` pairs, ``""`` being the top level.

    ``http_port`` is ``http_port`` or ``http-port`` at the top, ``port`` under ``[http]``
    (the option's first word), or ``http_port`` under the table of its plugin.
    """
    places = [("", option.name)]
    section, _, rest = option.name.partition("_")
    if rest:
        places.append((section, rest))
    if option.plugin and option.plugin != section:
        places.append((option.plugin, option.name))
    return [
        (table, key)
        for table, name in places
        for key in dict.fromkeys((name, name.replace("_", "-")))
    ]


def _file_value(option: Option, document: Mapping[str, Any]) -> tuple[bool, Any, str]:
    for title, key in _file_places(option):
        table = document.get(title, {}) if title else document
        if not isinstance(table, Mapping) or key not in table:
            continue
        value, where = table[key], f"[{title}] {key}" if title else key
        if option.table_key and isinstance(value, Mapping):
            if option.table_key not in value:
                continue
            value, where = value[option.table_key], f"[{key}] {option.table_key}"
        return True, value, f"config file: {where}"
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
    sources: dict[str, str] = {}
    for option in options:
        if option.name in args and not option.file_only:
            raw, source = args[option.name], option.flag
            values[option.name] = raw if option.is_flag else option.convert(raw, source)
        elif option.env in environ and not option.file_only:
            source = option.env
            values[option.name] = option.convert(environ[option.env], source)
        else:
            found, raw, source = _file_value(option, document)
            values[option.name] = option.convert(raw, source) if found else option.initial()
            source = source or "default"
        sources[option.name] = source
    path = Path(config_path) if config_path else None
    return Settings(values, document, path, sources)


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_file_keys(
    options: Iterable[Option], document: Mapping[str, Any], free_tables: Iterable[str] = ()
) -> None:
    """Refuse a key of the config file that no option reads, with a "did you mean".

    ``free_tables`` are tables whose keys someone else checks (``[layer]``: the layer's
    own settings).
    """
    known: dict[str, set[str]] = {"": set()}
    for option in options:
        for title, key in _file_places(option):
            known.setdefault(title, set()).add(key)
    free = set(free_tables)
    for key, value in document.items():
        if key in free:
            continue
        if isinstance(value, Mapping) and key in known and key not in known[""]:
            for inner in value:
                if inner not in known[key]:
                    hint = _did_you_mean(inner, known[key])
                    raise ConfigError(f"config file: [{key}] has no setting {inner!r}{hint}")
        elif key not in known[""] and key not in known:
            hint = _did_you_mean(key, known[""] | {k for k in known if k})
            raise ConfigError(f"config file: unknown setting {key!r}{hint}")


def unknown_variables(
    options: Iterable[Option], environ: Mapping[str, str], extra: Iterable[str] = ()
) -> list[str]:
    """Warnings for ``GATEWAYS_*`` variables that no option declares (a typo is silent
    otherwise); ``extra`` names variables read elsewhere (``GATEWAYS_APP``)."""
    known = {o.env for o in options if not o.file_only} | set(extra)
    warnings = []
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            hint = _did_you_mean(name, known)
            warnings.append(f"environment variable {name} is not a gateways setting{hint}")
    return warnings
