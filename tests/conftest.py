from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.kafka import KafkaBroker, ensure_single_broker

#: The session's broker listens here (its controller on the next port).
BROKER_PORT = int(os.environ.get("VIGIL_TEST_KAFKA_PORT", "29092"))

# Shared, noisy 2-core machines: no per-example deadline, no "too slow" health check.
settings.register_profile(
    "vigil", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("vigil")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real single-node Kafka on loopback (started here unless one is given), one per session."""
    given = os.environ.get("VIGIL_TEST_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    broker: KafkaBroker = ensure_single_broker(
        BROKER_PORT, tmp_path_factory.mktemp("kafka") / f"single-{BROKER_PORT}"
    )
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
