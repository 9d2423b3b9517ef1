"""Create the contract's topics (idempotent) with kafka-python's admin client."""

from __future__ import annotations

import logging
import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from config.settings import KafkaConfig
from reputation.errors import ReputationError
from streams.topics import all_topic_specs, changelog_specs

__all__ = ["BrokerUnavailableError", "ensure_topics", "kafka_client_options"]

log = logging.getLogger(__name__)


class BrokerUnavailableError(ReputationError):
    """No Kafka broker answered at the configured bootstrap address.

    Operators: start one with ``deploy/kafka/kafka.sh start`` or point
    ``VIGIL_KAFKA_BOOTSTRAP`` at a running cluster; a broker that is up but speaks
    another protocol (TLS, SASL) looks the same: check ``VIGIL_KAFKA_SECURITY_PROTOCOL``.
    """

    def __init__(self, bootstrap: str, security_protocol: str = "PLAINTEXT") -> None:
        super().__init__(
            f"no Kafka broker answers at {bootstrap} over {security_protocol}; start one with "
            "`deploy/kafka/kafka.sh start`, or check VIGIL_KAFKA_BOOTSTRAP and "
            "VIGIL_KAFKA_SECURITY_PROTOCOL"
        )
        self.bootstrap = bootstrap
        self.security_protocol = security_protocol


def kafka_client_options(kafka: KafkaConfig) -> dict[str, object]:
    """kafka-python client options: bootstrap and security (`KafkaConfig.client_options`)."""
    return kafka.client_options()


def ensure_topics(
    kafka: KafkaConfig, timeout_s: float = 60.0, app_id: str | None = None
) -> list[str]:
    """Create every missing contract topic (and, given the app id, changelog); return the names.

    Waits up to `timeout_s` for the broker, then raises the last connection error
    with the bootstrap address in its message.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(
                client_id="vigil-admin", request_timeout_ms=10_000, **kafka_client_options(kafka)
            )
            break
        except KafkaTimeoutError:
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(kafka.bootstrap, kafka.security_protocol) from None
            time.sleep(1.0)
    created: list[str] = []
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=kafka.replication_factor,
                topic_configs={"cleanup.policy": "compact"} if compacted else {},
            )
            for name, partitions, compacted in all_topic_specs(kafka)
            + (changelog_specs(kafka, app_id) if app_id else [])
            if name not in existing
        ]
        for topic in wanted:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
            except KafkaError:
                log.exception("could not create topic %s", topic.name)
                raise
    finally:
        admin.close()
    if created:
        log.info("created topics: %s", ", ".join(created))
    return created
