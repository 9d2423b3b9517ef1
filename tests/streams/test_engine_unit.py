"""The agent's batch path with a memory store and no broker.

The pipeline itself is proven against a real broker in tests/integration/.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import SimpleNamespace

import orjson
import pytest

from config.settings import Settings
from streams import metrics
from streams.app import Engine
from streams.outbox import key_partition
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
    changelog = [v for t, _, v in pending if t == "vigil-workers-changelog"]
    assert {orjson.loads(v)["worker_id"] for v in changelog} == scores
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


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()


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
