"""Batched output: what one batch of input emits, handed straight to aiokafka's producer.

Faust's `Topic.send_soon` hands each message to a buffer that a background task
drains one message at a time through the topic's serializers, callbacks and
sensors: tens of microseconds per message, and the engine emits a score, and
for payouts a forward to the wallet side, for nearly every input event. The
`Outbox` instead collects a batch's messages and appends them, with their
partition already computed, to aiokafka's record batches.

The batches go to the same aiokafka producer that Faust flushes (waiting for
the broker's acks) before it commits input offsets, and `flush` runs before the
agent finishes the input batch, so no offset is committed before its outputs
are on the broker. `deliver` also waits for every message's ack, for output
that must be on the broker before the state that remembers it is written.

Keyed messages go to the partition the Java client and aiokafka's default
partitioner pick (murmur2 of the key), so consumers of ``vigil.scores`` or
``vigil.alerts`` see one key on one partition, as with a keyed send.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from typing import Any

from aiokafka.partitioner import murmur2

__all__ = ["Outbox", "key_partition"]


def key_partition(key: bytes, partitions: int) -> int:
    """Return the partition of `key` among `partitions` as Kafka's default partitioner does.

    Examples
    --------
    >>> key_partition(b"w-1", 8) == key_partition(b"w-1", 8)
    True
    >>> 0 <= key_partition(b"w-1", 8) < 8
    True
    """
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


class Outbox:
    """Messages of one batch, grouped by topic and partition until `flush`.

    Parameters
    ----------
    partitions
        The partition count of every topic the outbox writes (full names).
    cache_max
        How many key-to-partition results to remember (murmur2 is pure Python).
    """

    def __init__(self, partitions: Mapping[str, int], cache_max: int = 200_000) -> None:
        self._partitions = dict(partitions)
        self._pending: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = {}
        self._keys: dict[tuple[str, bytes], int] = {}
        self._cache_max = cache_max
        self._spread = itertools.count()

    def __len__(self) -> int:
        return sum(len(m) for m in self._pending.values())

    def add(
        self, topic: str, value: bytes, key: bytes | None = None, partition: int | None = None
    ) -> None:
        """Queue one message; unkeyed ones are spread over the topic's partitions.

        An explicit `partition` wins (a table's changelog goes to its source's partition).
        """
        count = self._partitions.get(topic)
        if count is None:
            raise KeyError(f"outbox: unknown topic {topic!r}; known: {sorted(self._partitions)}")
        if partition is not None:
            if not 0 <= partition < count:
                raise ValueError(f"outbox: {topic} has {count} partitions, got {partition}")
        elif key is None:
            partition = next(self._spread) % count if count > 1 else 0
        else:
            cached = self._keys.get((topic, key))
            if cached is None:
                cached = key_partition(key, count)
                if len(self._keys) >= self._cache_max:
                    self._keys.clear()
                self._keys[(topic, key)] = cached
            partition = cached
        self._pending.setdefault((topic, partition), []).append((key, value))

    async def flush(self, producer: Any) -> dict[tuple[str, int], Any]:
        """Hand every queued message to `producer` (an `AIOKafkaProducer`).

        Returns, per (topic, partition), the delivery future of its last message
        (it resolves to the record's metadata, with its offset, once the broker
        has it). Does not wait for the broker: Faust waits for the acks before it
        commits. ``send`` appends to the partition's open record batch
        (``send_batch`` would wait for the partition's previous batch to drain).
        """
        pending, self._pending = self._pending, {}
        last: dict[tuple[str, int], Any] = {}
        for (topic, partition), messages in pending.items():
            for key, value in messages:
                last[(topic, partition)] = await producer.send(
                    topic, value, key=key, partition=partition
                )
        return last

    async def deliver(self, producer: Any) -> None:
        """Hand every queued message to `producer` and wait until the broker has each one.

        Raises the first delivery's failure (after the producer's own retries).
        Every message's future is awaited, not only each partition's last: a
        batch that expired does not stop a later one of its partition from
        succeeding.
        """
        pending, self._pending = self._pending, {}
        futures = [
            await producer.send(topic, value, key=key, partition=partition)
            for (topic, partition), messages in pending.items()
            for key, value in messages
        ]
        # Every outcome retrieved (no "exception never retrieved"), the first failure raised.
        for outcome in await asyncio.gather(*futures, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
