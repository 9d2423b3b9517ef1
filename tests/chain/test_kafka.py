"""kafka-python sinks and the sanctions topic against a real broker (deploy/kafka/kafka.sh).

The broker listens on 127.0.0.1:19492 (controller 19493), clear of the ports
other test modules and developers use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chain.checkpoint import FileCheckpointStore
from chain.publisher import KafkaRecordSink, KafkaTransferSink, import_kafka
from chain.rpc import Web3ChainReader
from chain.sanctions import load_sanctions_file
from chain.sanctions_topic import KafkaSanctionsSource, ensure_compacted_topic, publish_sanctions
from chain.watcher import WatchConfig, Watcher
from reputation.events import parse_sanction, parse_transfer
from tests.chain.conftest import Anvil, Token
from tests.helpers.kafka import KafkaBroker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PORT = 19492
DATA = Path(__file__).resolve().parents[2] / "chain" / "data"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Any:
    b = KafkaBroker(
        port=PORT, controller_port=PORT + 1, dir=tmp_path_factory.mktemp("kafka") / "node"
    )
    try:
        b.start()
        yield b
    finally:
        b.stop()


def consume(bootstrap: str, topic: str, expected: int) -> list[tuple[str, dict[str, object]]]:
    kafka = import_kafka()
    consumer = kafka.KafkaConsumer(
        topic,
        bootstrap_servers=[bootstrap],
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    out = []
    try:
        for msg in consumer:
            out.append((msg.key.decode(), json.loads(msg.value)))
            if len(out) >= expected:
                break
    finally:
        consumer.close()
    return out


def test_watcher_publishes_to_kafka(
    broker: Any, anvil: Anvil, deploy_token: Callable[[], Token], tmp_path: Path
) -> None:
    token = deploy_token()
    a, b = anvil.w3.eth.accounts[1:3]
    tx = token.transfer(a, b, 12_500_000)
    topic = "vigil.test.transfers"
    broker.create_topics([topic], partitions=3)  # the broker does not auto-create topics
    sink = KafkaTransferSink(broker.bootstrap, topic)
    try:
        w = Watcher(
            Web3ChainReader(anvil.url),
            sink,
            FileCheckpointStore(tmp_path / "cp.json"),
            WatchConfig(tokens=frozenset({token.address}), confirmations=0, from_block=0),
        )
        w.poll()
    finally:
        sink.close()
    published = w.stats.transfers_published
    got = consume(broker.bootstrap, topic, published)
    assert len(got) == published
    by_tx = {v["tx_hash"]: (k, v) for k, v in got}
    key, value = by_tx[tx]
    assert key == a.lower() == value["from"]  # key = from address
    event = parse_transfer(value)
    assert (event.amount, event.decimals, event.token) == (12_500_000, 6, token.address)


def test_sanctions_load_round_trip_through_the_compacted_topic(broker: Any) -> None:
    topic = "vigil.test.sanctions"
    assert ensure_compacted_topic(broker.bootstrap, topic) is True
    assert ensure_compacted_topic(broker.bootstrap, topic) is False
    source = KafkaSanctionsSource(broker.bootstrap, topic)
    assert source.read_current() == {}
    current = load_sanctions_file(DATA / "ofac_sdn_evm_addresses.csv")
    sink = KafkaRecordSink(broker.bootstrap, topic)
    try:
        first = publish_sanctions(current, source, sink)
        assert len(first.added) == 104
        state = source.read_current()
        assert len(state) == 104 and all(c.listed for c in state.values())
        again = publish_sanctions(current, source, sink)
        assert again.records() == []  # diffed against the topic: nothing new
        one_less = current.entries[1:]
        smaller = type(current)(current.as_of, current.source, one_less)
        removal = publish_sanctions(smaller, source, sink)
        assert [c.entry.address for c in removal.removed] == [current.entries[0].address]
    finally:
        sink.close()
    state = source.read_current()
    gone = state[current.entries[0].address]
    assert gone.entry.delisted and gone.entry.listed_at == current.as_of
    assert gone.listed_since == current.entries[0].listed_at
    got = consume(broker.bootstrap, topic, 105)
    assert all(parse_sanction(v).address == k for k, v in got)
    kafka = import_kafka()
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = kafka.KafkaAdminClient(bootstrap_servers=[broker.bootstrap])
    try:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        assert "compact" in repr(configs)
    finally:
        admin.close()


def test_cli_sanctions_load_publishes_once(broker: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from chain.cli import register

    parser = argparse.ArgumentParser(prog="vigil")
    register(parser.add_subparsers(dest="command", required=True))
    argv = [
        "sanctions",
        "load",
        str(DATA / "ofac_sdn_evm_addresses.csv"),
        "--bootstrap",
        broker.bootstrap,
        "--topic-prefix",
        "vigil.cli.",
    ]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "additions 104, removals 0" in out
    assert "published 104 messages to vigil.cli.sanctions" in out
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "current list: 104 listed, 0 delisted" in out and "additions 0, removals 0" in out
    assert "published 0 messages" in out
