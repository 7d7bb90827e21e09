"""The test helpers themselves: a process that never gets ready is not left behind."""

from __future__ import annotations

import os
import re
import sys

import pytest

from gateways.testing import GatewaysProcess

NEVER_READY = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(120)"


def test_a_process_that_never_gets_ready_is_killed_and_reaped():
    with pytest.raises(AssertionError, match="no line matched") as failure:
        GatewaysProcess([], program=[sys.executable, "-c", NEVER_READY], timeout=1)
    found = re.search(r"pid (\d+)", str(failure.value))
    assert found, str(failure.value)
    with pytest.raises(ProcessLookupError):
        os.kill(int(found[1]), 0)


def test_output_and_exit_status_of_a_finished_process():
    with GatewaysProcess(
        [], program=[sys.executable, "-c", "print('ready now')"], ready="ready now"
    ) as process:
        assert process.wait(timeout=10) == 0
        assert process.output == "ready now"
