"""The agent's batch path with a memory store and no broker.

The pipeline itself is proven against a real broker in tests/integration/.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import SimpleNamespace

import orjson
import pytest

from config.settings import Settings
from streams import metrics
from streams.app import Engine
from streams.outbox import key_partition
from streams.statecodec import decode_state
from tests.helpers.events import MALFORMED, make_events

# Faust and mode create event loops of their own (at import and on first table
# access) that nothing closes; their sockets are reported at garbage collection.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@dataclass
class FakeMessage:
    topic: str
    partition: int
    offset: int
    timestamp: float = 0.0
    key: bytes | None = None


@dataclass
class FakeEvent:
    message: FakeMessage
    value: bytes


def make_engine() -> Engine:
    settings = Settings()
    settings = replace(settings, engine=replace(settings.engine, state_cache_size=5))
    return Engine(settings, store="memory://", clock=lambda: datetime(2026, 11, 20, tzinfo=UTC))


def keyed_message(topic: str, raw: bytes, offset: int) -> FakeMessage:
    """A message keyed by its worker id, on that key's partition (as a producer sends it)."""
    try:
        key = str(orjson.loads(raw)["worker_id"]).encode()
    except (orjson.JSONDecodeError, KeyError, TypeError):
        key = b"w-0"
    return FakeMessage(f"vigil.{topic}", key_partition(key, 8), offset, key=key)


def batch_of(messages: list[tuple[str, bytes]]) -> list[FakeEvent]:
    return [FakeEvent(keyed_message(t, raw, i), raw) for i, (t, raw) in enumerate(messages)]


def test_batch_scores_workers_and_dead_letters_bad_input() -> None:
    loop = asyncio.new_event_loop()  # Faust and mode pick up the current loop lazily
    asyncio.set_event_loop(loop)
    try:
        run_batches(loop)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        gc.collect()  # report Faust's own unclosed loops here, under this module's filter


def run_batches(loop: asyncio.AbstractEventLoop) -> None:
    engine = make_engine()
    events = make_events(20, 400)
    msgs = [(t, orjson.dumps(e)) for t, e in events]
    bad = [(t, raw) for t, raw, _ in MALFORMED]
    before = metrics.DEAD_LETTERS.labels("payouts", "BAD_CHECKSUM")._value.get()
    producer = FakeProducer()
    pending = producer.sent
    persisted: dict[int, int] = {}
    engine.workers.data.set_persisted_offset = (  # type: ignore[attr-defined]
        lambda tp, offset: persisted.__setitem__(tp.partition, offset)
    )
    engine.app.producer._ensure_producer = lambda: producer  # type: ignore[method-assign]  # noqa: SLF001
    engine.workers.send_changelog = lambda *a, **kw: _FakeFut()  # type: ignore[method-assign]

    loop.run_until_complete(engine.process_batch(batch_of(msgs[:200] + bad + msgs[200:])))
    scores = {orjson.loads(v)["worker_id"] for topic, _, v in pending if topic == "vigil.scores"}
    dls = [orjson.loads(value) for topic, _, value in pending if topic == "vigil.deadletters"]
    # Keyed output goes where a keyed send would: the worker's partition of vigil.scores.
    for topic, partition, value in pending:
        if topic == "vigil.scores":
            key = orjson.loads(value)["worker_id"].encode()
            assert partition == key_partition(key, 8)
    assert scores == {e["worker_id"] for _, e in events}
    assert sorted(d["reason"] for d in dls) == sorted(r for _, _, r in MALFORMED)
    # Each worker's new state goes to the table's changelog, on the worker's partition.
    # (Besides the states, the highest dead-lettered offset of each partition: a number.)
    changelog = [v for t, _, v in pending if t == "vigil-workers-changelog" and not v.isdigit()]
    assert {decode_state(v).worker_id for v in changelog} == scores
    assert persisted, "no persisted changelog offset was recorded"
    assert metrics.DEAD_LETTERS.labels("payouts", "BAD_CHECKSUM")._value.get() == before + 1

    # Redelivery of the whole batch: nothing changes, records are re-emitted.
    state_before = {w: engine.load_state(w) for w in scores}
    pending.clear()
    loop.run_until_complete(engine.process_batch(batch_of(msgs)))
    assert {w: engine.load_state(w) for w in scores} == state_before
    assert len([1 for topic, _, _ in pending if topic == "vigil.scores"]) == len(scores)


class FakeProducer:
    """Records what the engine hands aiokafka's producer: (topic, partition, value)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bytes]] = []

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, partition: int
    ) -> asyncio.Future[SimpleNamespace]:
        self.sent.append((topic, partition, value))
        delivered: asyncio.Future[SimpleNamespace] = asyncio.get_running_loop().create_future()
        delivered.set_result(SimpleNamespace(offset=len(self.sent) - 1))
        return delivered


class _FakeFut:
    class message:  # noqa: N801 - mimics FutureMessage.message
        partition = 0


LISTED = "0x8589427373D6D84E98730D7795D8f6f8731FDA16"  # on the OFAC list (Tornado Cash)
PAID_TO_LISTED = {
    "event_id": "p-listed",
    "worker_id": "w-paid",
    "payer_id": "agent-1",
    "wallet": LISTED,
    "chain_id": 1,
    "asset": "USDC",
    "amount": "25.00",
    "paid_at": "2026-11-19T10:00:00Z",
}


LISTING = {
    "address": LISTED,
    "program": "CYBER2",
    "entity": "Tornado Cash",
    "listed_at": "2022-08-08T00:00:00Z",
    "source": "test",
}


def links_event(kind: str, event: dict[str, object], offset: int) -> FakeEvent:
    raw = orjson.dumps({"kind": kind, "event": event})
    return FakeEvent(FakeMessage("vigil.links", 0, offset), raw)


def test_forwards_travel_together_within_the_size_limit(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's facts for the wallet side go as few messages, none over the limit, in order."""
    import streams.app

    monkeypatch.setattr(streams.app, "FORWARD_MAX_BYTES", 600)
    engine = make_engine()
    producer = FakeProducer()
    engine.app.producer._ensure_producer = lambda: producer  # type: ignore[method-assign]  # noqa: SLF001
    facts = [
        orjson.dumps(
            {
                "kind": "payouts",
                "event": dict(PAID_TO_LISTED, event_id=f"p-{i}", worker_id=f"w-{i}"),
            }
        )
        for i in range(7)
    ]
    for fact in facts:
        engine.forward(fact)
    loop.run_until_complete(engine.flush_outbox())
    messages = [v for t, _, v in producer.sent if t == "vigil.links"]
    assert 1 < len(messages) < len(facts)
    assert all(len(m) <= 600 + len(b'{"facts":[]}') for m in messages)
    got = [orjson.dumps(f) for m in messages for f in orjson.loads(m)["facts"]]
    assert got == facts

    # The wallet side reads them back: the payout to the listed wallet is screened.
    box = engine._links_outbox  # noqa: SLF001
    engine._link_message(links_event("sanctions", LISTING, 0), box)  # noqa: SLF001
    for i, m in enumerate(messages):
        engine._link_message(FakeEvent(FakeMessage("vigil.links", 0, i + 1), m), box)  # noqa: SLF001
    loop.run_until_complete(engine.flush_outbox(box))
    alerts = [orjson.loads(v) for t, _, v in producer.sent if t == "vigil.alerts"]
    assert {a["event_ids"][0] for a in alerts if a["type"] == "SANCTIONED_PAYOUT"} == {
        f"p-{i}" for i in range(7)
    }


class FailingProducer(FakeProducer):
    """The broker takes table changelogs but fails every other send (scores, alerts, forwards)."""

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, partition: int
    ) -> asyncio.Future[SimpleNamespace]:
        if topic.endswith("-changelog"):
            return await super().send(topic, value, key=key, partition=partition)
        self.sent.append((topic, partition, value))
        failed: asyncio.Future[SimpleNamespace] = asyncio.get_running_loop().create_future()
        failed.set_exception(ConnectionError("broker gone"))
        return failed


class HoldingProducer(FakeProducer):
    """Acks output at once but holds the changelog's acks until `release`."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[asyncio.Future[SimpleNamespace]] = []

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, partition: int
    ) -> asyncio.Future[SimpleNamespace]:
        if not topic.endswith("-changelog"):
            return await super().send(topic, value, key=key, partition=partition)
        self.sent.append((topic, partition, value))
        fut: asyncio.Future[SimpleNamespace] = asyncio.get_running_loop().create_future()
        self.held.append(fut)
        return fut

    def release(self) -> None:
        for fut in self.held:
            fut.set_result(SimpleNamespace(offset=7))


def use_producer(engine: Engine, producer: FakeProducer) -> None:
    engine.app.producer._ensure_producer = lambda: producer  # type: ignore[method-assign]  # noqa: SLF001


def restart(engine: Engine) -> Engine:
    """What a new process has after a kill -9: the stores, none of the memory."""
    fresh = make_engine()
    for old, new in zip(
        (engine.workers, engine.addresses, engine.devices, engine.raised),
        (fresh.workers, fresh.addresses, fresh.devices, fresh.raised),
        strict=True,
    ):
        new.data.data.update(old.data.data)  # the memory store's dict stands for RocksDB
    return fresh


def test_state_is_stored_only_after_the_output_it_caused(loop: asyncio.AbstractEventLoop) -> None:
    """Output first (acked), then the changelog, then the store: a crash cannot lose output."""
    engine = make_engine()
    producer = HoldingProducer()
    use_producer(engine, producer)
    persisted: list[int] = []
    engine.workers.data.set_persisted_offset = (  # type: ignore[method-assign]
        lambda tp, offset: persisted.append(offset)
    )
    msgs = [("payouts", orjson.dumps(dict(PAID_TO_LISTED, event_id=f"p-{i}"))) for i in range(3)]
    loop.run_until_complete(engine.process_batch(batch_of(msgs)))
    topics = [topic for topic, _, _ in producer.sent]
    changelog = [i for i, t in enumerate(topics) if t.endswith("-changelog")]
    output = [i for i, t in enumerate(topics) if not t.endswith("-changelog")]
    assert {"vigil.scores", "vigil.links"} <= {topics[i] for i in output}
    assert changelog and max(output) < min(changelog)
    assert topics.count("vigil-workers-changelog") == 1  # one worker, one entry per batch
    # Until the broker has the changelog entry, the store does not, but reads see it.
    assert engine.workers.data.get(b"w-paid") is None
    assert engine.load_state("w-paid").t_ref is not None
    assert not persisted
    producer.release()
    loop.run_until_complete(asyncio.sleep(0))  # the delivery callbacks
    assert engine.workers.data.get(b"w-paid") is not None
    assert persisted == [7]
    assert not engine._unacked[id(engine.workers)]  # noqa: SLF001


def test_issue_12_a_crash_before_the_output_is_on_the_broker_loses_no_forward(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The worker side: a payout whose forward to the wallet side never reached the broker.

    The batch fails, nothing of it is stored, and the redelivered payout is new
    again: it is forwarded again (with the old order it was a duplicate and was not).
    """
    engine = make_engine()
    failing = FailingProducer()
    use_producer(engine, failing)
    batch = batch_of([("payouts", orjson.dumps(PAID_TO_LISTED))])
    with pytest.raises(ConnectionError):
        loop.run_until_complete(engine.process_batch(batch))
    assert "vigil.links" in {t for t, _, _ in failing.sent}
    loop.run_until_complete(asyncio.sleep(0))

    engine = restart(engine)
    again = FakeProducer()
    use_producer(engine, again)
    loop.run_until_complete(engine.process_batch(batch))
    links = [orjson.loads(v) for t, _, v in again.sent if t == "vigil.links"]
    assert [f["event"]["event_id"] for m in links for f in m["facts"]] == ["p-listed"]


def test_issue_12_a_crash_before_the_alert_is_on_the_broker_loses_no_alert(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The wallet side: a payout to a listed wallet whose alert was never delivered.

    The redelivered payout must raise the alert again, which it cannot if the
    address state (with the payout) or the alert's "raised" mark was stored.
    """
    engine = make_engine()
    use_producer(engine, FakeProducer())
    box = engine._links_outbox  # noqa: SLF001
    engine._link_message(links_event("sanctions", LISTING, 0), box)  # noqa: SLF001
    loop.run_until_complete(engine.flush_outbox(box))
    loop.run_until_complete(asyncio.sleep(0))

    failing = FailingProducer()
    use_producer(engine, failing)
    payout = links_event("payouts", PAID_TO_LISTED, 1)
    engine._link_message(payout, box)  # noqa: SLF001
    with pytest.raises(ConnectionError):
        loop.run_until_complete(engine.flush_outbox(box))
    assert [t for t, _, _ in failing.sent] == ["vigil.alerts", "vigil.alert-status"]
    loop.run_until_complete(asyncio.sleep(0))

    engine = restart(engine)
    again = FakeProducer()
    use_producer(engine, again)
    box = engine._links_outbox  # noqa: SLF001
    engine._link_message(payout, box)  # noqa: SLF001
    loop.run_until_complete(engine.flush_outbox(box))
    alerts = [orjson.loads(v) for t, _, v in again.sent if t == "vigil.alerts"]
    assert [(a["type"], a["worker_id"]) for a in alerts] == [("SANCTIONED_PAYOUT", "w-paid")]
    # Sent again after the redelivery, the fact changes nothing and raises nothing.
    loop.run_until_complete(asyncio.sleep(0))
    again.sent.clear()
    engine = restart(engine)
    use_producer(engine, again)
    box = engine._links_outbox  # noqa: SLF001
    engine._link_message(payout, box)  # noqa: SLF001
    loop.run_until_complete(engine.flush_outbox(box))
    assert again.sent == []


def test_a_redelivered_bad_message_is_dead_lettered_once(loop: asyncio.AbstractEventLoop) -> None:
    """After a rebalance or a restart the new owner re-reads uncommitted input: no second letter.

    A crash before the dead letter is on the broker still sends it again (never lost).
    """
    bad = [(t, raw) for t, raw, _ in MALFORMED]
    good = [(t, orjson.dumps(e)) for t, e in make_events(5, 40)]
    batch = batch_of(good[:20] + bad + good[20:])

    def letters(producer: FakeProducer) -> list[dict[str, object]]:
        return [orjson.loads(v) for t, _, v in producer.sent if t == "vigil.deadletters"]

    engine = make_engine()
    failing = FailingProducer()
    use_producer(engine, failing)
    with pytest.raises(ConnectionError):
        loop.run_until_complete(engine.process_batch(batch))
    loop.run_until_complete(asyncio.sleep(0))
    assert len(letters(failing)) == len(MALFORMED)  # tried, never acked

    engine = restart(engine)
    first = FakeProducer()
    use_producer(engine, first)
    loop.run_until_complete(engine.process_batch(batch))
    loop.run_until_complete(asyncio.sleep(0))
    got = letters(first)
    assert sorted(str(d["reason"]) for d in got) == sorted(r for _, _, r in MALFORMED)

    def repeats(engine: Engine) -> float:
        kinds = {engine.processor.kind_of(f"vigil.{t}") for t, _ in bad}
        return sum(metrics.events(k, "dead_letter_repeat")._value.get() for k in kinds)

    for _ in range(2):  # a rebalance, then a restart: the stores hold the marks
        engine = restart(engine)
        again = FakeProducer()
        use_producer(engine, again)
        before = repeats(engine)
        loop.run_until_complete(engine.process_batch(batch))
        loop.run_until_complete(asyncio.sleep(0))
        assert letters(again) == []
        assert any(t == "vigil.scores" for t, _, _ in again.sent)  # the valid ones still scored
        assert repeats(engine) - before == len(MALFORMED)


def test_dead_letters_of_one_batch_are_never_skipped_whatever_their_order(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """A later letter of a batch may name an earlier offset (a refused event after a bad one)."""
    from streams.processor import DeadLetter

    engine = make_engine()
    producer = FakeProducer()
    use_producer(engine, producer)

    def letter(offset: int) -> DeadLetter:
        return DeadLetter("vigil.tasks", 3, offset, "BAD_JSON", "message: x", b"{")

    def batch(*offsets: int) -> list[int]:
        producer.sent.clear()
        for o in offsets:
            engine.send_dead_letter(letter(o))
        loop.run_until_complete(engine.flush_outbox())
        loop.run_until_complete(asyncio.sleep(0))
        return [orjson.loads(v)["offset"] for t, _, v in producer.sent if t == "vigil.deadletters"]

    assert batch(9, 5) == [9, 5]
    assert batch(5, 9, 12) == [12]  # redelivered: 5 and 9 were sent by an earlier batch
    engine = restart(engine)
    use_producer(engine, producer)
    assert batch(9, 12, 13) == [13]
