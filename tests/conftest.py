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
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker | None]:
    """The session's single-node Kafka on loopback, or None when one is given by address."""
    if os.environ.get("VIGIL_TEST_KAFKA_BOOTSTRAP"):
        yield None
        return
    broker: KafkaBroker = ensure_single_broker(
        BROKER_PORT, tmp_path_factory.mktemp("kafka") / f"single-{BROKER_PORT}"
    )
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker | None) -> str:
    """The session's broker address (``VIGIL_TEST_KAFKA_BOOTSTRAP``, or `kafka_broker`'s)."""
    if kafka_broker is None:
        return os.environ["VIGIL_TEST_KAFKA_BOOTSTRAP"]
    return kafka_broker.bootstrap
