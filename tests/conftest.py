"""Shared test settings.

Hypothesis runs with random seeds on developers' machines, where it keeps
finding new cases, and derandomised on CI (``CI`` set), so a CI run is
repeatable and a red build is never a dice roll. No deadline anywhere: a slow
shared machine is not a bug.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
