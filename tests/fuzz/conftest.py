"""Fuzzing from outside the process: hypothesis writes the bytes, a real server reads them.

CI runs 150 examples per test, derandomized (the same cases every run, so CI cannot
flicker). The long mode is ``FUZZ_EXAMPLES=100000`` (``bash scripts/fuzz.sh``), random
cases, run by hand or nightly, never in CI. After every example the server must still
answer a valid request and its log must hold no traceback.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = bool(os.environ.get("FUZZ_EXAMPLES"))

settings.register_profile(
    "gateways-fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.load_profile("gateways-fuzz")
