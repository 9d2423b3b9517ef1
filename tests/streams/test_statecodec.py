"""Issue 12 item 2: the stored worker state is bounded, versioned MessagePack; old JSON reads."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from reputation.codec import state_from_record, state_to_record
from reputation.drift import DriftModel, DriftState
from reputation.events import TaskContext, WorkerEvent
from reputation.idwindow import DedupConfig
from reputation.model import TrustModel
from reputation.state import WorkerState, fold_events
from streams import metrics
from streams.processor import Processor
from streams.replay import replay_files
from streams.statecodec import decode_state, encode_state
from tests.helpers.events import T0, iso
from tests.reputation.conftest import kind_of, payout, quality, task
from tests.streams.test_engine_unit import FakeProducer, batch_of, make_engine

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
FIXTURE = Path(__file__).parent / "fixtures" / "worker_state_v3.json"
KIB = 1024


def test_a_v3_json_record_reads_and_re_encodes_as_v4() -> None:
    # Written by the v3 build (main before issue 12 item 2): 96 events, drift, identity.
    raw = FIXTURE.read_bytes()
    rec = orjson.loads(raw)
    assert rec["v"] == 3 and len(rec["applied"]) == 96
    s = decode_state(raw)
    assert s == state_from_record(rec)
    assert (s.n_tasks, s.n_quality, s.n_payouts) == (40, 40, 14)
    assert s.q_total == tuple(rec["q_total"]) and len(s.identity.values) == 2
    assert len(s.ids) == 96 and s.ids.horizon is None
    v4 = encode_state(s)
    assert v4[:1] != b"{" and decode_state(v4) == s
    assert state_to_record(decode_state(v4))["v"] == 4
    assert len(v4) < len(raw) / 2
    # Its events redelivered after the upgrade are duplicates still; a new one is applied.
    again = [task(i, "w-fix", day=i * 1.5 - 92) for i in range(0, 40, 7)]
    f = fold_events(TrustModel(), s, [(kind_of(e), e) for e in [*again, task(77, "w-fix")]])
    assert f.new == [False] * len(again) + [True]


def history(n: int, per_day: int, worker: str = "w-1") -> list[tuple[str, WorkerEvent]]:
    """`n` events of one worker, `per_day` a day: tasks (with a context), scores, payouts."""
    out: list[tuple[str, WorkerEvent]] = []
    for i in range(n):
        day = i / per_day
        k = i % 3
        if k == 0:
            ctx = TaskContext(utc_offset_min=60, ip_asn=3320, country="DE", device_id=f"d-{i % 3}")
            e: WorkerEvent = replace(task(i, worker, day=day, payer=f"agent-{i % 7}"), context=ctx)
        elif k == 1:
            e = quality(i, worker, day=day, score=0.6 + (i % 10) / 30)
        else:
            e = payout(i, worker, day=day, payer=f"agent-{i % 7}", amount="12.5")
        out.append((kind_of(e), e))
    return out


@pytest.mark.parametrize("per_day", [20, 200])
def test_the_stored_state_is_bounded_whatever_the_history(per_day: int) -> None:
    model, drift = TrustModel(), DriftModel()
    events = history(100_000, per_day)
    s = WorkerState("w-1")
    sizes, no_drift = {}, {}
    for i in range(0, len(events), 50):
        s = fold_events(model, s, events[i : i + 50], drift).state
        if i + 50 in (100, 1000, 10_000, 50_000, 100_000):
            sizes[i + 50] = len(encode_state(s))
            no_drift[i + 50] = len(encode_state(replace(s, drift=DriftState())))
    assert sizes[100] <= 4 * KIB, sizes
    # Everything but the drift detectors' day windows (150 calendar days of day
    # rows, bounded by VIGIL_DRIFT_HORIZON_DAYS, not by this budget) fits 16 KiB.
    assert max(no_drift.values()) <= 16 * KIB, no_drift
    # Flat once the windows are full: 100,000 events cost what 50,000 do (250 days
    # or more: every window is full); far under the broker's 1 MiB.
    assert sizes[100_000] <= 1.05 * sizes[50_000], sizes
    assert max(sizes.values()) <= 64 * KIB, sizes
    assert len(s.ids) <= DedupConfig().max_ids
    assert s.n_tasks + s.n_quality + s.n_payouts == 100_000  # nothing refused in time order
    assert decode_state(encode_state(s)) == s


def task_json(i: int, worker: str, day: float) -> dict[str, object]:
    t = T0 + timedelta(days=day)
    return {
        "event_id": f"t-{i}",
        "worker_id": worker,
        "payer_id": "agent-1",
        "task_id": f"k-{i}",
        "outcome": "accepted",
        "assigned_at": iso(t - timedelta(minutes=40)),
        "completed_at": iso(t),
        "reward": {"amount": "12.50", "asset": "USDC"},
    }


def test_an_event_older_than_the_horizon_is_a_too_late_dead_letter(
    loop: asyncio.AbstractEventLoop,
) -> None:
    engine = make_engine()
    producer = FakeProducer()
    engine.app.producer._ensure_producer = lambda: producer  # type: ignore[method-assign]  # noqa: SLF001
    before = metrics.TOO_LATE.labels("tasks")._value.get()
    recent = [("tasks", orjson.dumps(task_json(1, "w-late", 70.0)))]
    loop.run_until_complete(engine.process_batch(batch_of(recent)))
    old = [("tasks", orjson.dumps(task_json(2, "w-late", -100.0)))]  # 170 days before
    loop.run_until_complete(engine.process_batch(batch_of(old)))
    dls = [orjson.loads(v) for t, _, v in producer.sent if t == "vigil.deadletters"]
    assert [d["reason"] for d in dls] == ["TOO_LATE"]
    assert "dedup horizon" in dls[0]["error"] and dls[0]["source_topic"] == "vigil.tasks"
    assert orjson.loads(dls[0]["payload"])["event_id"] == "t-2"
    assert metrics.TOO_LATE.labels("tasks")._value.get() == before + 1
    assert engine.load_state("w-late").n_tasks == 1  # not applied


def test_replay_refuses_the_same_events_as_too_late(tmp_path: Path) -> None:
    lines = [
        {"topic": "tasks", "event": task_json(1, "w-late", 70.0)},
        {"topic": "tasks", "event": task_json(2, "w-late", -100.0)},
        {"topic": "tasks", "event": task_json(3, "w-late", 0.0)},
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    now = T0 + timedelta(days=80)
    settings = Settings()
    result = replay_files(settings, [path], clock=lambda: now, progress=False, order="file")
    assert [(d.reason, d.offset) for d in result.dead_letters] == [("TOO_LATE", 2)]
    assert result.states["w-late"].n_tasks == 2
    # In event-time order (the default) nothing is too late.
    ordered = replay_files(settings, [path], clock=lambda: now, progress=False)
    assert ordered.dead_letters == [] and ordered.states["w-late"].n_tasks == 3
    assert Processor(settings).settings.dedup.horizon_days == 150.0
