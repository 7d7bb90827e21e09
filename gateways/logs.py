"""Logging set-up for ``serve``, ``worker`` and ``status``: ``--log-level``,
``--log-format text|json`` and ``--log-config FILE``.

JSON logs are one object a line, so a log shipper (Loki, Elasticsearch, CloudWatch...)
reads fields instead of parsing text: ``timestamp`` (ISO 8601, UTC), ``level``,
``logger``, ``message``, every field given with ``extra=`` (the access logs put the
method, path, status, client ... there) and ``exc_info`` when there is a traceback.

``--log-config`` takes what uvicorn and gunicorn take, so an existing file keeps
working: a :func:`logging.config.dictConfig` in JSON (``.json``), TOML (``.toml``) or
YAML (``.yaml``/``.yml``, with PyYAML installed), or a :func:`logging.config.fileConfig`
INI file (any other name).
"""

from __future__ import annotations

import configparser
import json
import logging
import logging.config
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateways.config import ConfigError

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: What every LogRecord carries; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    (*vars(logging.LogRecord("", 0, "", 0, "", (), None)), "message", "asctime", "taskName")
)


def log_format(text: str) -> str:
    """``text`` or ``json`` (the converter of ``--log-format``)."""
    value = text.strip().lower()
    if value not in FORMATS:
        raise ValueError(f"expected text or json, got {text!r}")
    return value


def _plain(value: Any) -> Any:
    """Bytes (headers, paths) as text; anything else JSON cannot hold as its str()."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object a line. Usable from a dictConfig too:
    ``{"()": "gateways.logs.JsonFormatter"}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            key: value for key, value in vars(record).items() if key not in _STANDARD
        }
        stamp = datetime.fromtimestamp(record.created, UTC)
        entry.update(
            timestamp=stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            level=record.levelname,
            logger=record.name,
            message=record.getMessage(),
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=_plain, ensure_ascii=False)


def level_number(level: str) -> int:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigError(f"--log-level: expected debug, info, warning or error, got {level!r}")
    return numeric


def setup(level: str | None, fmt: str = "text", config_file: str | None = None) -> None:
    """The built-in set-up (one stderr handler), or the user's file instead of it.

    With a file, ``level`` (when not None) still sets the root logger's level
    afterwards, as uvicorn's ``--log-level`` does over its ``--log-config``.
    """
    if config_file:
        apply_file(config_file)
        if level is not None:
            logging.getLogger().setLevel(level_number(level))
        return
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    # Like basicConfig: a process whose root logger has handlers already (pytest,
    # an embedding program) keeps them.
    logging.basicConfig(level=level_number(level or "info"), handlers=[handler])


def read_dict_config(path: Path) -> dict[str, Any] | None:
    """The dictConfig a JSON, TOML or YAML file holds; None for an INI file."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        with path.open(encoding="utf-8") as handle:
            document = json.load(handle)
    elif suffix == ".toml":
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"--log-config: {path}: reading YAML needs PyYAML") from None
        with path.open(encoding="utf-8") as handle:
            try:
                document = yaml.safe_load(handle)
            except yaml.YAMLError as exc:
                raise ConfigError(f"--log-config: {path}: not valid YAML: {exc}") from None
    else:
        return None
    if not isinstance(document, dict):
        raise ConfigError(f"--log-config: {path}: expected a logging dictConfig (a mapping)")
    return document


def apply_file(name: str) -> None:
    """Apply a logging config file. Loggers that exist already (every module's) stay
    enabled unless the file says ``disable_existing_loggers``: the logging default of
    true would silence this program's own messages."""
    path = Path(name)
    if not path.is_file():
        raise ConfigError(f"--log-config: no such file {name!r}")
    try:
        document = read_dict_config(path)
        if document is None:
            logging.config.fileConfig(path, disable_existing_loggers=False)
            return
        document.setdefault("version", 1)
        document.setdefault("disable_existing_loggers", False)
        logging.config.dictConfig(document)
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError, ImportError, OSError, configparser.Error) as exc:
        raise ConfigError(f"--log-config: {name}: {exc}") from None
