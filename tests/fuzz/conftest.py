"""Fuzzing from outside the process: hypothesis writes the bytes, a real server reads them.

CI runs a few hundred examples per test (the ``ci`` profile); ``FUZZ_EXAMPLES=100000`` (or
``pytest --hypothesis-profile=long``) is the long mode, run by hand or nightly, never in CI.
After every example the server must still answer a valid request and its log must hold no
traceback.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    derandomize=not os.environ.get("FUZZ_EXAMPLES"),
    suppress_health_check=_SUPPRESSED,
    print_blob=True,
)
settings.register_profile(
    "long", max_examples=100_000, deadline=None, suppress_health_check=_SUPPRESSED
)
settings.load_profile("ci")
