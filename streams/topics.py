"""The contract's topics, named from the configured prefix in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.settings import (
    COMPACTED_TOPICS,
    INPUT_TOPICS,
    INTERNAL_TOPICS,
    OUTPUT_TOPICS,
    SINGLE_PARTITION_TOPICS,
    KafkaConfig,
)

__all__ = [
    "CHAIN_TOPICS",
    "TABLES",
    "WORKER_TOPICS",
    "Topics",
    "all_topic_specs",
    "changelog_specs",
    "partitions_of",
]

#: Topics keyed by worker id, consumed together and co-partitioned with the worker table.
WORKER_TOPICS = ("tasks", "quality", "payouts", "identity", "alert-status")
#: Topics keyed by address, routed to the wallet side.
CHAIN_TOPICS = ("transfers", "sanctions")


def partitions_of(kafka: KafkaConfig, name: str) -> int:
    """Return the partition count of a topic (short name)."""
    return 1 if name in SINGLE_PARTITION_TOPICS else kafka.partitions


#: The engine's tables and the topic each is co-partitioned with (same partition count).
TABLES: dict[str, str] = {
    "workers": "tasks",
    "addresses": "links",
    "devices": "links",
    "raised-alerts": "links",
}


def changelog_specs(kafka: KafkaConfig, app_id: str) -> list[tuple[str, int, bool]]:
    """Return (name, partitions, compacted) of the tables' changelog topics (Faust's names).

    Created before the worker starts: a changelog topic that Faust creates itself
    can show 0 partitions in the consumer's metadata for a while, and a table
    write then fails Faust's partition check (``PartitionsMismatch``).
    """
    return [
        (f"{app_id}-{table}-changelog", partitions_of(kafka, source), True)
        for table, source in TABLES.items()
    ]


def all_topic_specs(kafka: KafkaConfig) -> list[tuple[str, int, bool]]:
    """Return (full name, partitions, compacted) for every contract and internal topic."""
    return [
        (kafka.topic(name), partitions_of(kafka, name), name in COMPACTED_TOPICS)
        for name in (*INPUT_TOPICS, *OUTPUT_TOPICS, *INTERNAL_TOPICS)
    ]


@dataclass(frozen=True)
class Topics:
    """Faust topic objects of one app (raw bytes in and out; JSON is ours)."""

    worker_inputs: Any
    chain_inputs: Any
    scores: Any
    alerts: Any
    deadletters: Any
    alert_status: Any
    links: Any

    @classmethod
    def declare(cls, app: Any, kafka: KafkaConfig) -> Topics:
        """Declare the topics on a Faust app."""

        def topic(*names: str) -> Any:
            return app.topic(
                *(kafka.topic(n) for n in names),
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=partitions_of(kafka, names[0]),
            )

        return cls(
            worker_inputs=topic(*WORKER_TOPICS),
            chain_inputs=topic(*CHAIN_TOPICS),
            scores=topic("scores"),
            alerts=topic("alerts"),
            deadletters=topic("deadletters"),
            alert_status=topic("alert-status"),
            links=topic("links"),
        )
