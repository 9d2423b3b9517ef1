"""Follow whole topics from their beginning in this process (no consumer group).

The alert log and the score log each keep a view of a topic that every engine
process must see in full, whatever partitions it owns: they read every
partition from the first offset and keep reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from config.settings import KafkaConfig

__all__ = ["follow_topics"]

log = logging.getLogger(__name__)


async def follow_topics(
    kafka: KafkaConfig,
    topics: Sequence[str],
    name: str,
    handle: Callable[[str, list[bytes | None]], None],
    caught_up: asyncio.Event,
) -> None:
    """Read every partition of `topics` from the start, calling `handle(topic, values)`.

    Retries until Kafka is reachable (logging under `name`), sets `caught_up` the
    first time a poll returns nothing, runs until cancelled.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    consumer = AIOKafkaConsumer(
        **kafka.client_options(),  # bootstrap servers, TLS and SASL as configured
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    while True:
        try:
            await consumer.start()
            break
        except KafkaError as exc:
            log.warning("%s: cannot reach Kafka yet (%s); retrying", name, exc)
            await asyncio.sleep(2.0)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in range(kafka.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                handle(tp.topic, [rec.value for rec in records])
            if not batch:
                caught_up.set()
    finally:
        await consumer.stop()
