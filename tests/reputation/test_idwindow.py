"""Issue 12 item 2: exactly once within an event-time window, in bounded memory."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reputation.assess import assess
from reputation.codec import state_from_record, state_to_record
from reputation.events import Address, WorkerEvent
from reputation.idwindow import BUCKET_S, DedupConfig, IdWindow, WindowBuilder, from_legacy
from reputation.model import TrustModel
from reputation.state import (
    MAX_PAYER_WEIGHTS,
    MAX_PAYERS,
    MAX_WALLETS,
    WorkerState,
    event_key,
    fold_events,
)
from tests.reputation.conftest import kind_of, payout, quality, task
from tests.reputation.test_state import assert_close

MODEL = TrustModel()
DEFAULT = DedupConfig()
DAY = 86_400.0


@st.composite
def recent_events(draw: st.DrawFn, days: float = 120.0, max_size: int = 80) -> list[WorkerEvent]:
    """One worker's events spread over `days` (less than the default horizon)."""
    n = draw(st.integers(1, max_size))
    out: list[WorkerEvent] = []
    for i in range(n):
        day = draw(st.floats(0, days, allow_nan=False))
        k = draw(st.sampled_from("tqp"))
        if k == "t":
            out.append(task(i, day=day, payer=f"p-{draw(st.integers(0, 3))}"))
        elif k == "q":
            out.append(quality(i, day=day, score=draw(st.floats(0, 1))))
        else:
            out.append(payout(i, day=day, amount=str(draw(st.integers(1, 500)))))
    return out


def fold(
    events: list[WorkerEvent], dedup: DedupConfig = DEFAULT, batch: int = 7
) -> tuple[WorkerState, list[bool], list[int]]:
    """Fold events in batches; return the state, which were applied, which refused (indexes)."""
    s, new, late = WorkerState("w-1"), [], []
    for i in range(0, len(events), batch):
        part = events[i : i + batch]
        f = fold_events(MODEL, s, [(kind_of(e), e) for e in part], dedup=dedup)
        s = f.state
        new += f.new
        late += [i + j for j, _ in f.late]
    return s, new, late


@settings(max_examples=80, deadline=None)
@given(recent_events(), st.randoms(use_true_random=False))
def test_disorder_within_the_horizon_gives_the_same_state(
    events: list[WorkerEvent], rnd: random.Random
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    redelivered = shuffled + rnd.sample(shuffled, len(shuffled) // 2)
    rnd.shuffle(redelivered)
    a, _, late_a = fold(events)
    b, _, late_b = fold(redelivered, batch=3)
    assert late_a == late_b == []
    assert a.ids == b.ids
    assert_close(assess(MODEL, a).to_json(), assess(MODEL, b).to_json())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 300), st.floats(0, 400)), min_size=1, max_size=150),
    st.integers(16, 40),
    st.floats(1, 200),
)
def test_no_event_is_ever_applied_twice(
    stream: list[tuple[int, float]], cap: int, horizon_days: float
) -> None:
    # Any order, any redelivery, a small cap and horizon: each id is applied at most
    # once, and an event is only refused when it is older than the horizon then.
    dedup = DedupConfig(horizon_days=horizon_days, max_ids=cap)
    days = {}
    events = []
    for i, day in stream:
        day = days.setdefault(i, day)  # an id always has the same event (and time)
        events.append(quality(i, day=day))
    s, new, late = fold(events, dedup)
    applied = Counter(e.event_id for e, is_new in zip(events, new, strict=True) if is_new)
    assert all(n == 1 for n in applied.values())
    assert len(s.ids) <= cap
    assert s.n_quality == sum(applied.values())
    assert s.ids.horizon is not None
    for i in late:
        assert events[i].time.timestamp() < s.ids.horizon


def test_an_event_older_than_the_horizon_is_refused_and_not_applied() -> None:
    s, _, _ = fold([task(1, day=200.0)])
    f = fold_events(MODEL, s, [("tasks", task(2, day=10.0)), ("tasks", task(3, day=100.0))])
    assert f.new == [False, True]
    horizon = (task(1, day=200.0).time.timestamp()) - 150 * DAY
    assert f.late == ((0, horizon),)
    assert f.state.n_tasks == 2  # the one at day 100 is within the horizon
    only_late = fold_events(MODEL, s, [("tasks", task(2, day=10.0))])
    assert only_late.state is s and only_late.late == ((0, horizon),)


def test_a_duplicate_within_the_window_changes_nothing() -> None:
    events = [task(i, day=i / 3) for i in range(30)] + [quality(i, day=i / 3) for i in range(30)]
    s, _, _ = fold(events)
    again = fold_events(MODEL, s, [(kind_of(e), e) for e in events[::4]])
    assert again.new == [False] * len(events[::4]) and again.late == ()
    assert again.state is s


def test_the_cap_raises_the_horizon_and_what_is_after_it_is_still_checked() -> None:
    dedup = DedupConfig(max_ids=16)
    # 40 events, one every 2 hours: more than the cap.
    events = [quality(i, day=i / 12) for i in range(40)]
    s, new, late = fold(events, dedup)
    assert all(new) and late == []
    assert len(s.ids) <= 16
    horizon = s.ids.horizon
    assert horizon is not None
    assert horizon > events[0].time.timestamp() + 100 * DAY - 150 * DAY  # raised by the cap
    kept = [e for e in events if e.time.timestamp() >= horizon]
    assert 8 <= len(kept) <= 16
    gone = [e for e in events if e.time.timestamp() < horizon]
    f = fold_events(MODEL, s, [("quality", e) for e in kept + gone], dedup=dedup)
    assert f.new == [False] * (len(kept) + len(gone))
    assert [i for i, _ in f.late] == list(range(len(kept), len(kept) + len(gone)))
    assert f.state.n_quality == 40


def test_one_bucket_over_the_cap_is_forgotten_whole() -> None:
    # More than the cap in one bucket (4 h) of event time: it goes, the horizon passes it.
    dedup = DedupConfig(max_ids=16)
    events = [quality(i, day=i / 86_400) for i in range(17)]
    s, new, _ = fold(events, dedup)
    assert all(new) and len(s.ids) == 0
    assert s.ids.horizon is not None and s.ids.horizon > events[-1].time.timestamp()


@pytest.mark.parametrize("bits", [16])
def test_false_duplicate_rate_is_ids_in_the_bucket_over_two_to_the_bits(bits: int) -> None:
    # Distinct events in one bucket with 16-bit fingerprints: the k-th is taken for a
    # duplicate with probability about (k - 1) / 2**16; expected n**2 / 2**17 in all.
    dedup = DedupConfig(max_ids=65_536, fingerprint_bits=bits)
    b = WindowBuilder(IdWindow(bits), dedup)
    n = 4000
    false = sum(b.add(event_key("tasks", f"t-{i}"), 1.0e9 + i * 0.1) != "new" for i in range(n))
    expected = sum(k / 2**bits for k in range(n))  # ~122
    assert 0.7 * expected < false < 1.3 * expected, (false, expected)
    # The default 40 bits: none in the same stream.
    b40 = WindowBuilder(IdWindow(), DedupConfig(max_ids=65_536))
    assert all(b40.add(event_key("tasks", f"t-{i}"), 1.0e9 + i * 0.1) == "new" for i in range(n))


def test_window_grows_by_five_bytes_per_id() -> None:
    b = WindowBuilder(IdWindow())
    for i in range(100):
        b.add(event_key("tasks", f"t-{i}"), 1.0e9 + (i // 10) * BUCKET_S)
    w = b.freeze()
    assert len(w) == 100 and len(w.buckets) == 10
    assert sum(len(v) for v in w.buckets.values()) == 500


def test_old_records_carry_their_ids_over() -> None:
    events = [task(i, day=i) for i in range(50)]
    s, _, _ = fold(events)
    rec = json.loads(json.dumps(state_to_record(s)))
    del rec["ids"]
    rec["v"] = 3
    rec["applied"] = sorted(event_key(kind_of(e), e.event_id) for e in events)
    old = state_from_record(rec)
    assert old.ids.horizon is None and len(old.ids) == 50
    # Every old event redelivered is a duplicate, a new one is applied.
    f = fold_events(MODEL, old, [(kind_of(e), e) for e in [*events, task(99, day=20.5)]])
    assert f.new == [False] * 50 + [True]
    # More ids than the cap: none kept, and nothing at or before the latest is applied again.
    keys = [event_key("tasks", f"x-{i}") for i in range(3000)]
    big = from_legacy(keys, events[-1].time.timestamp(), DedupConfig())
    assert len(big) == 0 and big.horizon is not None
    assert big.horizon > events[-1].time.timestamp()


def test_payers_wallets_and_weights_are_capped() -> None:
    events: list[WorkerEvent] = [
        replace(
            payout(i, day=i / 10, payer=f"payer-{i:03d}", amount="25"),
            wallet=Address(f"0x{i:040x}"),
        )
        for i in range(200)
    ]
    events += [task(1000 + i, day=i / 10, payer=f"payer-{i:03d}") for i in range(200)]
    s, _, _ = fold(events)
    assert len(s.payers) == MAX_PAYERS and len(s.payer_weight) == MAX_PAYER_WEIGHTS
    assert len(s.wallets) == MAX_WALLETS
    # The kept payers are the smallest ids, whatever the order.
    assert s.payers == frozenset(f"payer-{i:03d}" for i in range(MAX_PAYERS))
    rev, _, _ = fold(events[::-1])
    assert rev.payers == s.payers
    assert assess(MODEL, s).evidence["payers"] == MAX_PAYERS
