"""The outbox puts keyed messages where Kafka's own clients would."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2

from streams.outbox import Outbox, key_partition

# Utils.murmur2 test vectors of the Java client (UtilsTest.testMurmur2), signed 32-bit.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_key_partition_is_the_java_clients_partition() -> None:
    # Java: Utils.toPositive(Utils.murmur2(key)) % numPartitions
    for key, signed in JAVA_MURMUR2.items():
        for partitions in (1, 3, 8, 12):
            assert key_partition(key, partitions) == (signed & 0x7FFFFFFF) % partitions


@given(st.binary(min_size=1, max_size=40), st.integers(min_value=1, max_value=64))
def test_key_partition_matches_kafka_python(key: bytes, partitions: int) -> None:
    # The producers of vigil.scores' consumers (kafka-python) place keys the same way.
    assert key_partition(key, partitions) == (murmur2(key) & 0x7FFFFFFF) % partitions


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, int]] = []

    async def send(self, topic: str, value: bytes, *, key: bytes | None, partition: int) -> int:
        self.sent.append((topic, key, value, partition))
        return len(self.sent) - 1  # stands for the delivery future


def test_flush_sends_everything_once_in_order_per_partition() -> None:
    box = Outbox({"t.scores": 8, "t.links": 1})
    for i in range(50):
        box.add("t.scores", f"s{i}".encode(), f"w-{i % 7}".encode())
        box.add("t.links", f"l{i}".encode())
    assert len(box) == 100
    producer = _Producer()
    last = asyncio.run(box.flush(producer))
    assert len(producer.sent) == 100
    assert len(box) == 0
    # The last message of each partition is the one whose delivery is reported.
    for (topic, partition), index in last.items():
        assert producer.sent[index][0] == topic and producer.sent[index][3] == partition
        assert all(p != partition or t != topic for t, _, _, p in producer.sent[index + 1 :])
    assert asyncio.run(box.flush(producer)) == {}
    links = [v for t, _, v, p in producer.sent if t == "t.links"]
    assert links == [f"l{i}".encode() for i in range(50)]
    assert {p for t, _, _, p in producer.sent if t == "t.links"} == {0}
    for worker in range(7):
        mine = [v for t, k, v, _ in producer.sent if k == f"w-{worker}".encode()]
        assert mine == [f"s{i}".encode() for i in range(50) if i % 7 == worker]


def test_an_explicit_partition_wins_and_is_checked() -> None:
    box = Outbox({"t.changelog": 8})
    box.add("t.changelog", b"v", b"w-1", partition=5)
    producer = _Producer()
    asyncio.run(box.flush(producer))
    assert producer.sent == [("t.changelog", b"w-1", b"v", 5)]
    try:
        box.add("t.changelog", b"v", b"w-1", partition=8)
    except ValueError as exc:
        assert "8 partitions" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("partition 8 of 8 was accepted")


def test_unknown_topic_is_an_error() -> None:
    box = Outbox({"t.scores": 8})
    try:
        box.add("t.nope", b"x")
    except KeyError as exc:
        assert "t.nope" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("an unknown topic was accepted")


class _ExpiringProducer:
    """Fails the first message of each partition (an expired batch); later ones succeed."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, partition: int
    ) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if (topic, partition) in self.seen:
            fut.set_result(0)
        else:
            self.seen.add((topic, partition))
            fut.set_exception(TimeoutError("batch expired"))
        return fut


def test_deliver_raises_a_failure_before_the_last_message_of_a_partition() -> None:
    box = Outbox({"t.links": 1})
    box.add("t.links", b"first")
    box.add("t.links", b"second")
    try:
        asyncio.run(box.deliver(_ExpiringProducer()))
    except TimeoutError:
        pass
    else:  # pragma: no cover
        raise AssertionError("a failed delivery was reported as delivered")
    assert len(box) == 0
