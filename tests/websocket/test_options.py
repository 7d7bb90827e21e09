"""Settings the websocket plugin checks before serving: a bad one exits 2 and names
where it came from."""

from __future__ import annotations

import pytest

from tests.websocket.conftest import APP


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (("--plugin", "websocket"), {}, "--plugin: websocket serves sockets on the HTTP port"),
        (
            ("--plugin", "http", "--plugin", "websocket", "--ws-max-message", "0"),
            {},
            "--ws-max-message: must be positive",
        ),
        (
            ("--plugin", "http", "--plugin", "websocket"),
            {"GATEWAYS_WS_MAX_MESSAGE": "lots"},
            "GATEWAYS_WS_MAX_MESSAGE: expected a size such as 1048576",
        ),
    ],
)
def test_bad_settings_exit_2_naming_their_source(gateways_process, args, env, said):
    process = gateways_process("serve", APP, *args, "--http-port", "0", env=env, ready=None)
    assert process.wait() == 2
    assert said in process.output
