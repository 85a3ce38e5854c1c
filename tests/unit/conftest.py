"""Shared settings of the unit tests: the domain rules and the wire contract,
with no I/O. The builders live in ``builders.py``."""

import os

from hypothesis import HealthCheck, settings

# "dev" explores a little each run; "ci" is reproducible and a bit wider.
settings.register_profile("dev", max_examples=200, stateful_step_count=40)
settings.register_profile(
    "ci",
    max_examples=400,
    stateful_step_count=40,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# A long hunt for a rare sequence, now and then (with --timeout=0): minutes.
settings.register_profile(
    "thorough", max_examples=3000, stateful_step_count=60, deadline=None
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
