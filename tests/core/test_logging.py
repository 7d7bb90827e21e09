"""``--log-format json`` and ``--log-config FILE`` on real ``gateways`` processes, and the
JSON formatter on its own."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateways.logs import JsonFormatter
from tests.core.test_serve import PLUGIN, LineClient
from tests.fixtures.processes import APPS

APP = "core_app:routes"


def parsed(lines: list[str]) -> list[dict]:
    """Every line as JSON (fails on a line that is not one object)."""
    return [json.loads(line) for line in lines if line]


def test_json_lines_carry_time_level_logger_message_and_the_traceback(gateways_process):
    process = gateways_process("serve", APP, *PLUGIN, "--log-format", "json")
    client = LineClient(process.address("line"))
    assert client.ask("explode") == "ERROR RuntimeError"
    client.close()
    process.wait_for(r'"exc_info": ')
    assert process.stop() == 0
    records = parsed(process.lines)
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= record.keys()
        stamp = datetime.fromisoformat(record["timestamp"])
        assert stamp.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=5)
    ready = next(r for r in records if r["message"].startswith("gateways ready"))
    assert (ready["level"], ready["logger"]) == ("INFO", "gateways.host")
    [failed] = [r for r in records if "exc_info" in r]
    assert failed["level"] == "ERROR"
    assert failed["message"].startswith("consumer failed on line.receive")
    assert failed["exc_info"].startswith("Traceback (most recent call last):")
    assert failed["exc_info"].rstrip().endswith("RuntimeError: consumer blew up")


def test_the_formatter_keeps_extra_fields_as_keys():
    record = logging.LogRecord(
        "gateways.http.access", logging.INFO, __file__, 1, "%s", ("hi",), None
    )
    record.__dict__.update(method="GET", path="/a", status=200, client=["127.0.0.1", 5], raw=b"x")
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hi"
    assert entry["logger"] == "gateways.http.access"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/a", 200)
    assert entry["client"] == ["127.0.0.1", 5]
    assert entry["raw"] == "x"
    assert not {"args", "msg", "levelno", "pathname", "exc_info"} & entry.keys()


def test_a_json_log_config_replaces_the_built_in_set_up(gateways_process, tmp_path):
    log_file = tmp_path / "gateways.log"
    config = {
        "version": 1,
        "formatters": {"mine": {"format": "MINE %(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": str(log_file),
                "formatter": "mine",
            },
            "console": {"class": "logging.StreamHandler", "formatter": "mine"},
        },
        "root": {"level": "INFO", "handlers": ["file", "console"]},
    }
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    process = gateways_process(
        "serve",
        APP,
        *PLUGIN,
        "--log-config",
        str(path),
        ready="MINE INFO gateways.host gateways ready",
    )
    assert process.stop() == 0
    written = log_file.read_text()
    assert "MINE INFO gateways.host gateways ready" in written
    assert "MINE INFO gateways.host gateways stopped" in written


def test_a_toml_log_config_can_use_the_json_formatter(gateways_process, tmp_path):
    log_file = tmp_path / "gateways.jsonl"
    path = tmp_path / "logging.toml"
    path.write_text(
        f"""
[formatters.json]
"()" = "gateways.logs.JsonFormatter"

[handlers.file]
class = "logging.FileHandler"
filename = "{log_file}"
formatter = "json"

[handlers.console]
class = "logging.StreamHandler"

[root]
level = "INFO"
handlers = ["file", "console"]
"""
    )
    process = gateways_process("serve", APP, *PLUGIN, env={"GATEWAYS_LOG_CONFIG": str(path)})
    assert process.stop() == 0
    records = parsed(log_file.read_text().splitlines())
    assert any(r["message"].startswith("gateways ready") for r in records)
    assert {r["logger"] for r in records} >= {"gateways.host", "gateways.worker"}


def test_an_ini_log_config_as_gunicorn_takes_it(gateways_process, tmp_path):
    path = tmp_path / "logging.ini"
    path.write_text(
        "[loggers]\nkeys=root\n[handlers]\nkeys=console\n[formatters]\nkeys=plain\n"
        "[logger_root]\nlevel=INFO\nhandlers=console\n"
        "[handler_console]\nclass=StreamHandler\nformatter=plain\nargs=(sys.stderr,)\n"
        "[formatter_plain]\nformat=INI %(name)s: %(message)s\n"
    )
    process = gateways_process(
        "serve", APP, *PLUGIN, "--log-config", str(path), ready="INI gateways.host: gateways ready"
    )
    assert process.stop() == 0


def run_gateways(*args: str, path: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateways", *args]
    env = {"PYTHONPATH": os.pathsep.join(filter(None, (path, str(APPS))))}
    return subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (["--log-format", "yaml"], "--log-format: expected text or json, got 'yaml'"),
        (
            ["--log-config", "/nonexistent/logging.json"],
            "--log-config: no such file '/nonexistent/logging.json'",
        ),
        (["--log-config", "{bad}"], "--log-config: {bad}: Unable to configure handler 'x'"),
        (["--log-config", "{yaml}"], "--log-config: {yaml}: reading YAML needs PyYAML"),
    ],
)
def test_logging_mistakes_are_usage_errors(tmp_path: Path, given, problem):
    bad, yaml = tmp_path / "bad.json", tmp_path / "log.yaml"
    bad.write_text(json.dumps({"handlers": {"x": {"class": "no.such.Handler"}}}))
    yaml.write_text("version: 1\n")
    hidden = tmp_path / "no-yaml"  # a process where PyYAML cannot be imported
    hidden.mkdir()
    (hidden / "yaml.py").write_text("raise ImportError('PyYAML hidden by the test')\n")
    args = [a.format(bad=bad, yaml=yaml) for a in given]
    done = run_gateways("serve", APP, *PLUGIN, *args, path=str(hidden))
    assert done.returncode == 2
    assert done.stderr.strip() == f"gateways: error: {problem.format(bad=bad, yaml=yaml)}"


def test_the_environment_is_named_when_it_gave_the_bad_value(tmp_path):
    command = [sys.executable, "-m", "gateways", "status", "--layer", "redis://127.0.0.1:1/0"]
    env = {"PYTHONPATH": str(APPS), "GATEWAYS_LOG_FORMAT": "xml"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 2
    assert "GATEWAYS_LOG_FORMAT: expected text or json, got 'xml'" in done.stderr


def doc_json_blocks() -> list[str]:
    """The JSON examples of the Logs section of docs/monitoring.md."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "monitoring.md").read_text()
    logs = page.split("\n## Logs\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```json\n(.*?)^```", logs, re.M | re.S)


def test_the_documented_json_line_and_log_config_are_valid(gateways_process, tmp_path):
    line, config = doc_json_blocks()
    assert {"timestamp", "level", "logger", "message"} <= json.loads(line).keys()
    path = tmp_path / "logging.json"
    path.write_text(config)
    process = gateways_process("serve", APP, *PLUGIN, "--log-config", str(path))
    assert process.stop() == 0
