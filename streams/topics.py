"""The contract's topics, named from the configured prefix in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.settings import COMPACTED_TOPICS, INPUT_TOPICS, OUTPUT_TOPICS, KafkaConfig

__all__ = ["WORKER_TOPICS", "Topics", "all_topic_specs"]

#: Input topics keyed by worker id, consumed together and co-partitioned with the worker table.
WORKER_TOPICS = ("tasks", "quality", "payouts")


def all_topic_specs(kafka: KafkaConfig) -> list[tuple[str, int, bool]]:
    """Return (full name, partitions, compacted) for every contract topic."""
    return [
        (kafka.topic(name), kafka.partitions, name in COMPACTED_TOPICS)
        for name in (*INPUT_TOPICS, *OUTPUT_TOPICS)
    ]


@dataclass(frozen=True)
class Topics:
    """Faust topic objects of one app (raw bytes in and out; JSON is ours)."""

    worker_inputs: Any
    scores: Any
    alerts: Any
    deadletters: Any

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
                partitions=kafka.partitions,
            )

        return cls(
            worker_inputs=topic(*WORKER_TOPICS),
            scores=topic("scores"),
            alerts=topic("alerts"),
            deadletters=topic("deadletters"),
        )
