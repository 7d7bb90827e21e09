"""The command line contract: exit statuses, messages, settings precedence."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateways import cli


def gateways(*args: str, env: dict[str, str] | None = None, cwd: str | None = None):
    import os

    from tests.fixtures.processes import APPS

    environment = {**os.environ, "PYTHONPATH": str(APPS), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gateways", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=30,
    )


def test_unknown_plugin_exits_2_naming_it_and_listing_installed():
    done = gateways("serve", "core_app:routes", "--plugin", "nosuch")
    assert done.returncode == 2
    assert "unknown plugin 'nosuch'" in done.stderr
    assert "installed plugins: " in done.stderr and "memory" in done.stderr


def test_a_plugin_without_interfaces_cannot_be_served():
    done = gateways("serve", "core_app:routes", "--plugin", "memory")
    assert done.returncode == 2
    assert "--plugin memory: that plugin runs no interface" in done.stderr


def test_worker_refuses_the_memory_layer_with_a_clear_message():
    done = gateways("worker", "core_app:routes")
    assert done.returncode == 2
    assert "cannot use memory://" in done.stderr and "redis://" in done.stderr


def test_unknown_layer_scheme_is_a_settings_error():
    done = gateways("worker", "core_app:routes", "--layer", "carrier-pigeon://coop")
    assert done.returncode == 2
    assert "no installed layer handles carrier-pigeon://" in done.stderr


def test_bad_app_is_named():
    done = gateways("worker", "no_such_module:routes", "--layer", "memory://")
    assert done.returncode == 2
    assert "APP no_such_module:routes" in done.stderr


def test_bad_value_names_the_setting_and_its_source():
    done = gateways(
        "serve", "core_app:routes", "--plugin", "lineproto.plugin", "--concurrency", "lots"
    )
    assert done.returncode == 2
    assert "--concurrency: invalid literal for int()" in done.stderr
    done = gateways(
        "serve",
        "core_app:routes",
        "--plugin",
        "lineproto.plugin",
        env={"GATEWAYS_CONCURRENCY": "-3"},
    )
    assert done.returncode == 2
    assert "GATEWAYS_CONCURRENCY: must be positive" in done.stderr


def test_plugin_configure_hook_rejects_bad_settings():
    done = gateways(
        "serve", "core_app:routes", "--plugin", "lineproto.plugin", "--line-port", "70000"
    )
    assert done.returncode == 2
    assert "--line-port: 70000 is not a TCP port" in done.stderr


def test_plugins_json_lists_installed_plugins_with_versions_and_schemes():
    done = gateways("plugins", "--json")
    assert done.returncode == 0, done.stderr
    records = {r["name"]: r for r in json.loads(done.stdout)}
    assert records["memory"]["layer_schemes"] == ["memory://"]
    assert records["memory"]["version"] == "0.1.0"
    assert "gateways_layer_backends" in records["memory"]["hooks"]


def test_plugins_text_listing():
    done = gateways("plugins")
    assert done.returncode == 0
    assert "memory 0.1.0" in done.stdout


def test_help_shows_plugin_options_grouped():
    done = gateways("serve", "--plugin", "lineproto.plugin", "--help")
    assert done.returncode == 0
    assert "lineproto.plugin options" in done.stdout and "--line-port" in done.stdout


def test_main_returns_2_in_process(capsys):
    assert cli.main(["worker", "core_app:routes", "--grace", "0"]) == 2
    assert "--grace: must be positive" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--version"]])
def test_version(argv):
    done = gateways(*argv)
    assert done.returncode == 0 and done.stdout.startswith("gateways ")


# -- usage mistakes: exit 2 and one line, never a traceback ---------------------------

UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing is ever asked of it: the mistakes come first


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["worker", "core_app:routes", "--layer", UNREACHABLE, "--only-channels", "foo.*"],
            "no channel left to receive on after --only-channels 'foo.*' "
            "(the routes consume line.receive)",
        ),
        (
            ["worker", "core_app:routes", "--layer", UNREACHABLE, "--exclude-channels", "*"],
            "no channel left to receive on after --exclude-channels '*'",
        ),
        (
            ["serve", "core_app:routes", "--plugin", "lineproto.plugin", "--only-channels", "x"],
            "no channel left to receive on after --only-channels 'x'",
        ),
        (["worker", "--layer", UNREACHABLE], "worker needs an APP"),
        (["worker", "core_app", "--layer", UNREACHABLE], "APP core_app: expected module:attribute"),
        (["worker", "core_app:nope", "--layer", UNREACHABLE], "has no attribute 'nope'"),
        (["worker", "core_app:routes", "--layer", "redis//h"], "must look like SCHEME://"),
        (["worker", "core_app:routes", "--layer", "redis"], "must look like SCHEME://"),
        (["worker", "core_app:routes", "--layer", "redis://h:99999/0"], "bad host:port"),
        (["worker", "core_app:routes", "--layer", "redis://h:x/0"], "bad port"),
        (["worker", "core_app:routes", "--layer", "redis://[::1/0"], "Invalid IPv6 URL"),
        (["worker", "core_app:routes", "--layer", "redis://h/abc"], "must be a database number"),
        (["worker", "core_app:routes", "--layer", "redis://h/0?capacity=x"], "capacity"),
        (["worker", "core_app:routes", "--layer", "redis://h/0?nope=1"], "setting(s) nope"),
        (
            ["worker", "core_app:routes", "--layer", "redis://h/0?max_message_size=-1"],
            "max_message_size must be positive",
        ),
        (
            ["worker", "core_app:routes", "--layer", "rediss://h/0?ssl_ca_certs=/no/such.pem"],
            "ssl_ca_certs: no such file '/no/such.pem'",
        ),
        (["worker", "core_app:routes", "--config", "/"], "--config /: Is a directory"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_usage_mistakes_exit_2_with_one_line(args, says):
    done = gateways(*args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("gateways: error: ") and says in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr


def test_status_on_an_unreachable_layer_is_one_line_and_exit_1():
    done = gateways("status", "--layer", UNREACHABLE)
    assert done.returncode == 1
    assert done.stderr.startswith("gateways: layer unreachable: "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
