"""Writing to Kafka: the sink interfaces, their kafka-python implementations and fakes.

`publish` returns only when the broker acknowledged every message of the
batch (``acks=all``, idempotent producer); otherwise it raises `PublishError`
and the caller keeps its cursor where it was, so delivery is at-least-once.
Consumers count a redelivered event once (by ``event_id``).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from chain.errors import PublishError
from reputation.events import TransferEvent

__all__ = [
    "KafkaRecordSink",
    "KafkaTransferSink",
    "MemoryRecordSink",
    "MemoryTransferSink",
    "RecordSink",
    "TransferSink",
    "import_kafka",
]

log = logging.getLogger(__name__)

Record = tuple[str, Mapping[str, object]]  # (key, JSON value)


def import_kafka() -> Any:
    """Import kafka-python without the DeprecationWarning its import raises on Python 3.11.

    kafka-python 3.0.12 reads its protocol schemas with
    ``importlib.resources.read_text`` at import time; pytest runs with warnings
    as errors, and nothing on our side can fix the library.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="(read|open)_text is deprecated", category=DeprecationWarning
        )
        import kafka

        return kafka


class TransferSink(Protocol):
    """Where the watcher sends transfers (``vigil.transfers``, key = sender address)."""

    def publish(self, events: Sequence[TransferEvent]) -> None:
        """Send all `events` and wait until each is acknowledged, or raise `PublishError`."""
        ...


class RecordSink(Protocol):
    """A topic that takes (key, JSON object) records, such as ``vigil.sanctions``."""

    def publish(self, records: Sequence[Record]) -> None:
        """Send all `records` and wait until each is acknowledged, or raise `PublishError`."""
        ...


class KafkaRecordSink:
    """`RecordSink` for one topic over a kafka-python producer.

    Parameters
    ----------
    bootstrap
        ``host:port[,host:port...]`` of the brokers.
    topic
        The full topic name (prefix included).
    flush_timeout_s
        How long one `publish` may wait for acknowledgements.
    security
        TLS and SASL options of the client (``KafkaConfig.security_options()``);
        none means ``PLAINTEXT``.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        flush_timeout_s: float = 30.0,
        client_id: str = "vigil-chain",
        security: Mapping[str, Any] | None = None,
    ) -> None:
        kafka = import_kafka()
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s
        try:
            self._producer = self._connect(kafka, bootstrap, client_id, security or {})
        except kafka.errors.KafkaError as exc:
            raise PublishError(f"{topic}: cannot reach {bootstrap}: {exc}") from exc

    def _connect(
        self, kafka: Any, bootstrap: str, client_id: str, security: Mapping[str, Any]
    ) -> Any:
        flush_timeout_s = self.flush_timeout_s
        return kafka.KafkaProducer(
            **security,
            bootstrap_servers=bootstrap.split(","),
            client_id=client_id,
            acks="all",
            enable_idempotence=True,  # broker drops the duplicates of its own retries
            linger_ms=5,
            retries=2_147_483_647,
            delivery_timeout_ms=int(flush_timeout_s * 1000),
            request_timeout_ms=min(int(flush_timeout_s * 500), 30_000),
        )

    def publish(self, records: Sequence[Record]) -> None:
        kafka = import_kafka()
        try:
            futures = [
                # bytes in, no serializer: kafka-python 3 deprecates plain-callable serializers
                self._producer.send(
                    self.topic, key=k.encode(), value=json.dumps(v, separators=(",", ":")).encode()
                )
                for k, v in records
            ]
            self._producer.flush(timeout=self.flush_timeout_s)
            for f in futures:
                f.get(timeout=0)  # raises the send's error; flush() does not
        except kafka.errors.KafkaError as exc:
            raise PublishError(f"{self.topic}: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Flush what is pending and close the producer."""
        self._producer.close(timeout=self.flush_timeout_s)


class KafkaTransferSink:
    """`TransferSink` over `KafkaRecordSink`: key = ``from`` address, value = contract JSON."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        flush_timeout_s: float = 30.0,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self._sink = KafkaRecordSink(
            bootstrap,
            topic,
            flush_timeout_s=flush_timeout_s,
            client_id="vigil-chain-watch",
            security=security,
        )

    def publish(self, events: Sequence[TransferEvent]) -> None:
        self._sink.publish([(e.sender, e.to_json()) for e in events])

    def close(self) -> None:
        """Close the producer."""
        self._sink.close()


class MemoryTransferSink:
    """In-memory `TransferSink` for tests: `events` in send order; `fail_next` batches fail."""

    def __init__(self) -> None:
        self.events: list[TransferEvent] = []
        self.batches = 0
        self.fail_next = 0

    def publish(self, events: Sequence[TransferEvent]) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            # a failed batch may still have reached the broker in part
            self.events.extend(events[: len(events) // 2])
            raise PublishError("memory sink: broker unavailable")
        self.events.extend(events)
        self.batches += 1


class MemoryRecordSink:
    """In-memory `RecordSink` for tests."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.fail_next = 0

    def publish(self, records: Sequence[Record]) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise PublishError("memory sink: broker unavailable")
        self.records.extend(records)
