"""deploy/kafka/kafka.sh brings up real Kafka that aiokafka (Faust's client) can use.

Ports 19092/19093 (single node) and 19192-19194/19202-19204 (cluster) keep clear of
brokers other sessions may run on the defaults.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.helpers.kafka import KafkaBroker, KafkaCluster, PartitionInfo, ensure_single_broker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SINGLE_PORT = 19092
SINGLE_CONTROLLER_PORT = 19093
CLUSTER_BASE_PORT = 19192
IO_TIMEOUT_S = 120.0


@pytest.fixture
def single_broker(tmp_path: Path, request: pytest.FixtureRequest) -> KafkaBroker:
    broker = KafkaBroker(
        port=SINGLE_PORT, controller_port=SINGLE_CONTROLLER_PORT, dir=tmp_path / "single"
    )
    request.addfinalizer(broker.stop)  # registered first: also stops a half-started broker
    broker.start()
    return broker


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> KafkaCluster:
    cluster = KafkaCluster(base_port=CLUSTER_BASE_PORT, dir=tmp_path / "cluster")
    request.addfinalizer(cluster.stop)
    cluster.start()
    return cluster


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> set[int]:
    """Send ``values`` keyed by themselves with acks=all; return the partitions used."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,  # retries during a failover must not duplicate
        linger_ms=5,
        request_timeout_ms=60_000,
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, key=value, value=value) for value in values]
        return {metadata.partition for metadata in await asyncio.gather(*futures)}
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, group: str, count: int) -> tuple[list[bytes], int]:
    """Read ``count`` messages as member of ``group``, commit; return them and the commit total."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=60_000,
    )
    await consumer.start()
    try:
        received: list[bytes] = []
        while len(received) < count:
            batches = await consumer.getmany(timeout_ms=500)
            received.extend(msg.value for msgs in batches.values() for msg in msgs)
        await consumer.commit()
        partitions = consumer.partitions_for_topic(topic) or set()
        committed = 0
        for partition in partitions:
            offset = await consumer.committed(TopicPartition(topic, partition))
            committed += offset or 0
        return received, committed
    finally:
        await consumer.stop()


def produce(bootstrap: str, topic: str, values: list[bytes]) -> set[int]:
    return asyncio.run(asyncio.wait_for(_produce(bootstrap, topic, values), IO_TIMEOUT_S))


def consume(bootstrap: str, topic: str, group: str, count: int) -> tuple[list[bytes], int]:
    return asyncio.run(asyncio.wait_for(_consume(bootstrap, topic, group, count), IO_TIMEOUT_S))


def test_single_node_roundtrip_with_aiokafka(single_broker: KafkaBroker) -> None:
    status = single_broker.status()
    assert status.returncode == 0, status.stdout
    assert status.stdout.startswith("running:")
    assert f"port {SINGLE_PORT}" in status.stdout

    pid = single_broker.pid()
    again = ensure_single_broker(SINGLE_PORT, single_broker.dir)  # second start: a no-op
    assert again == single_broker
    assert single_broker.pid() == pid

    topic, changelog = "vigil.it.events", "vigil.it.state-changelog"
    single_broker.create_topics([topic, changelog], partitions=8, compacted={changelog})
    assert {topic, changelog} <= single_broker.list_topics()
    assert [p.partition for p in single_broker.describe_partitions(topic)] == list(range(8))

    values = [f"event-{i:04d}".encode() for i in range(1000)]
    assert produce(single_broker.bootstrap, topic, values) == set(range(8))
    received, committed = consume(single_broker.bootstrap, topic, "vigil-it-group", len(values))
    assert sorted(received) == values
    assert committed == len(values)

    single_broker.delete_topics([changelog])
    assert changelog not in single_broker.list_topics()

    single_broker.stop()
    status = single_broker.status()
    assert status.returncode == 3, status.stdout
    assert status.stdout.startswith("stopped:")
    single_broker.stop()  # stopping a stopped broker is fine


def wait_for_partitions(
    cluster: KafkaCluster,
    topic: str,
    what: str,
    ready: Callable[[PartitionInfo], bool],
    timeout_s: float = 90.0,
) -> None:
    """Poll metadata until ``ready`` holds for every partition of ``topic``."""
    deadline = time.monotonic() + timeout_s
    while True:
        partitions = cluster.describe_partitions(topic)
        if all(ready(p) for p in partitions):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{topic}: {what} not reached after {timeout_s}s: {partitions}")
        time.sleep(0.5)


def test_three_node_cluster_survives_kill_9(cluster: KafkaCluster) -> None:
    status = cluster.status()
    assert status.returncode == 0, status.stdout
    assert "3/3 running" in status.stdout

    topic, group = "vigil.it.failover", "vigil-it-failover"
    cluster.create_topics([topic], partitions=6)
    partitions = cluster.describe_partitions(topic)
    assert len(partitions) == 6
    assert all(len(p.replicas) == 3 and len(p.isr) == 3 for p in partitions), partitions

    before = [f"before-{i:03d}".encode() for i in range(300)]
    produce(cluster.bootstrap, topic, before)
    received, _ = consume(cluster.bootstrap, topic, group, len(before))
    assert sorted(received) == before

    victim = partitions[0].leader  # a node that leads at least one partition
    cluster.kill(victim)
    status = cluster.status()
    assert status.returncode == 3
    assert f"node {victim}: stopped" in status.stdout
    assert "2/3 running" in status.stdout

    during = [f"during-{i:03d}".encode() for i in range(300)]
    produce(cluster.bootstrap, topic, during)  # acks=all with 2 of 3 in sync (min ISR 2)
    received, _ = consume(cluster.bootstrap, topic, group, len(during))
    assert sorted(received) == during  # the group resumed from its commit
    wait_for_partitions(
        cluster,
        topic,
        f"node {victim} out of leaders and ISRs",
        lambda p: p.leader not in (victim, -1) and victim not in p.isr,
    )

    cluster.start()  # restarts only the killed node
    status = cluster.status()
    assert status.returncode == 0, status.stdout
    assert "3/3 running" in status.stdout
    wait_for_partitions(cluster, topic, "full ISR", lambda p: len(p.isr) == cluster.size)

    after = [f"after-{i:03d}".encode() for i in range(300)]
    produce(cluster.bootstrap, topic, after)
    received, committed = consume(cluster.bootstrap, topic, group, len(after))
    assert sorted(received) == after
    assert committed == len(before) + len(during) + len(after)

    cluster.stop()
    status = cluster.status()
    assert status.returncode == 3
    assert "0/3 running" in status.stdout
