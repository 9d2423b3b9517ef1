from __future__ import annotations

from hypothesis import HealthCheck, settings

# Shared, noisy 2-core machines: no per-example deadline, no "too slow" health check.
settings.register_profile(
    "vigil", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("vigil")
