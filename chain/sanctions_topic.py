"""The compacted ``vigil.sanctions`` topic as the current sanctions list.

`vigil sanctions load` diffs a new list against what the topic holds now,
read back from the beginning to the end offsets, not against a local state
file: the topic is what the engine consumes, so a load that died halfway, a
load from another host or a lost state file can never make the diff wrong.
Running the same load twice publishes nothing the second time. Reading a few
thousand compacted records takes well under a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from chain.errors import PublishError
from chain.publisher import Record, RecordSink, import_kafka
from chain.sanctions import (
    CurrentEntry,
    SanctionsDiff,
    SanctionsList,
    current_from_records,
    diff_lists,
)
from reputation.events import Address

__all__ = [
    "KafkaSanctionsSource",
    "MemorySanctionsTopic",
    "SanctionsSource",
    "ensure_compacted_topic",
    "publish_sanctions",
]

log = logging.getLogger(__name__)


class SanctionsSource(Protocol):
    """Where the current list is read from."""

    def read_current(self) -> dict[Address, CurrentEntry]: ...


class KafkaSanctionsSource:
    """Read a compacted topic from the beginning to its end offsets (no consumer group).

    `security` holds the client's TLS and SASL options (``KafkaConfig.security_options()``).
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        timeout_s: float = 30.0,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout_s = timeout_s
        self.security = dict(security or {})

    def read_current(self) -> dict[Address, CurrentEntry]:
        kafka = import_kafka()
        consumer = kafka.KafkaConsumer(
            **self.security,
            bootstrap_servers=self.bootstrap.split(","),
            client_id="vigil-sanctions-load",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            consumer_timeout_ms=1000,
        )
        try:
            partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                log.info("topic %s does not exist yet: the current list is empty", self.topic)
                return {}
            tps = [kafka.TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            end = consumer.end_offsets(tps)
            records: list[tuple[str | None, bytes | None]] = []
            deadline = time.monotonic() + self.timeout_s
            while any(consumer.position(tp) < end[tp] for tp in tps):
                if time.monotonic() > deadline:
                    raise PublishError(f"reading {self.topic} took over {self.timeout_s}s")
                for batch in consumer.poll(timeout_ms=500).values():
                    for msg in batch:
                        key = None if msg.key is None else msg.key.decode()
                        records.append((key, msg.value))
            return current_from_records(records)
        except kafka.errors.KafkaError as exc:
            raise PublishError(f"reading {self.topic}: {type(exc).__name__}: {exc}") from exc
        finally:
            consumer.close()


class MemorySanctionsTopic:
    """An in-memory compacted topic: a `RecordSink` and a `SanctionsSource` at once."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def publish(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    def read_current(self) -> dict[Address, CurrentEntry]:
        return current_from_records(self.records)


def ensure_compacted_topic(
    bootstrap: str,
    topic: str,
    *,
    partitions: int = 1,
    replication: int = -1,
    security: Mapping[str, Any] | None = None,
) -> bool:
    """Create `topic` with ``cleanup.policy=compact`` if it is missing; True if created.

    An existing topic is left alone; if it is not compacted, that is logged,
    because old entries would then expire and history would be lost.
    ``replication=-1`` takes the broker's default.
    """
    kafka = import_kafka()
    from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

    admin = kafka.KafkaAdminClient(
        **(security or {}), bootstrap_servers=bootstrap.split(","), client_id="vigil-sanctions-load"
    )
    try:
        if topic in admin.list_topics():
            res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            text = repr(res)
            if "compact" not in text:
                log.warning(
                    "topic %s exists but is not compacted (cleanup.policy=compact); "
                    "old sanctions entries may expire from it",
                    topic,
                )
            return False
        try:
            admin.create_topics(
                [
                    NewTopic(
                        topic,
                        num_partitions=partitions,
                        replication_factor=replication,
                        topic_configs={"cleanup.policy": "compact"},
                    )
                ]
            )
        except kafka.errors.TopicAlreadyExistsError:
            return False
        log.info("created compacted topic %s", topic)
        return True
    finally:
        admin.close()


def publish_sanctions(
    new: SanctionsList, source: SanctionsSource, sink: RecordSink | None
) -> SanctionsDiff:
    """Diff `new` against the current list and publish the difference (None: dry run)."""
    current = source.read_current()
    diff = diff_lists(current, new)
    records = diff.records()
    if sink is not None and records:
        sink.publish(records)
    return diff
