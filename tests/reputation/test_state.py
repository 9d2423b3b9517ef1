"""Properties of the order-free, idempotent state update and of the trust record."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reputation.assess import assess
from reputation.codec import state_from_record, state_to_record
from reputation.events import WorkerEvent
from reputation.model import TrustModel
from reputation.state import WorkerState, apply_event
from tests.reputation.conftest import T0, WIDE, kind_of, payout, quality, task, worker_events

MODEL = TrustModel()


def run(events: list[WorkerEvent], model: TrustModel = MODEL) -> dict[str, WorkerState]:
    states: dict[str, WorkerState] = {}
    for e in events:
        s = states.get(e.worker_id) or WorkerState(e.worker_id)
        states[e.worker_id] = apply_event(model, s, kind_of(e), e, WIDE)
    return states


def records(states: dict[str, WorkerState]) -> dict[str, dict[str, object]]:
    return {w: assess(MODEL, s).to_json() for w, s in states.items()}


def assert_close(a: object, b: object, path: str = "") -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), path
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), f"{path}: {a} != {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@settings(max_examples=150, deadline=None)
@given(worker_events(), st.randoms(use_true_random=False))
def test_order_independence(events: list[WorkerEvent], rnd: random.Random) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert_close(records(run(events)), records(run(shuffled)))


@settings(max_examples=100, deadline=None)
@given(worker_events(), st.integers(1, 8), st.randoms(use_true_random=False))
def test_partition_independence(events: list[WorkerEvent], parts: int, rnd: random.Random) -> None:
    # Split the events across `parts` partitions by a hash of the worker (as Kafka does
    # by key), process each partition on its own in its own interleaving, merge.
    shards: list[list[WorkerEvent]] = [[] for _ in range(parts)]
    for e in events:
        shards[hash(e.worker_id) % parts].append(e)
    merged: dict[str, WorkerState] = {}
    for shard in shards:
        rnd.shuffle(shard)
        merged.update(run(shard))
    assert_close(records(run(events)), records(merged))


@settings(max_examples=100, deadline=None)
@given(worker_events(), st.randoms(use_true_random=False))
def test_idempotence(events: list[WorkerEvent], rnd: random.Random) -> None:
    redelivered = events + rnd.sample(events, k=len(events) // 2) + events[: len(events) // 3]
    rnd.shuffle(redelivered)
    assert_close(records(run(events)), records(run(redelivered)))


@settings(max_examples=100, deadline=None)
@given(worker_events())
def test_bounds(events: list[WorkerEvent]) -> None:
    for s in run(events).values():
        for days in (0, 10, 1000):
            r = assess(MODEL, s, T0 + timedelta(days=500 + days))
            assert 0.0 <= r.score <= 1.0 and 0.0 <= r.confidence < 1.0
            for v in (r.components.reliability, r.components.quality, r.components.payment_history):
                assert 0.0 <= v <= 1.0


@settings(max_examples=100, deadline=None)
@given(worker_events())
def test_codec_round_trip(events: list[WorkerEvent]) -> None:
    import json

    for s in run(events).values():
        assert state_from_record(json.loads(json.dumps(state_to_record(s)))) == s


@settings(max_examples=80, deadline=None)
@given(worker_events(workers=1))
def test_decay_back_to_prior(events: list[WorkerEvent]) -> None:
    (s,) = run(events).values()
    last = T0 + timedelta(days=401)
    confs = [assess(MODEL, s, last + timedelta(days=d)).confidence for d in (0, 30, 90, 365, 3650)]
    assert all(a >= b for a, b in zip(confs, confs[1:], strict=False))
    far = assess(MODEL, s, last + timedelta(days=40 * 365))
    assert far.confidence < 1e-6
    assert math.isclose(far.components.reliability, MODEL.prior_reliability, abs_tol=1e-6)
    assert math.isclose(far.components.quality, MODEL.prior_quality, abs_tol=1e-6)
    assert math.isclose(far.score, MODEL.prior_score, abs_tol=1e-6)
    assert far.band == "new"


def test_decayed_sums_match_numpy_batch() -> None:
    rng = np.random.default_rng(7)
    days = rng.uniform(0, 200, size=300)
    scores = rng.uniform(0, 1, size=300)
    s = WorkerState("w-1")
    for i, (d, q) in enumerate(zip(days, scores, strict=True)):
        s = apply_event(MODEL, s, "quality", quality(i, day=float(d), score=float(q)), WIDE)
    h = MODEL.half_life_days
    w = 2.0 ** (-(days.max() - days) / h)
    assert math.isclose(s.q_sum[0], float(np.sum(w * scores)), rel_tol=1e-9)
    assert math.isclose(s.q_weight[0], float(np.sum(w)), rel_tol=1e-9)


def honest_history(days: int, payers: int, per_day: int = 3) -> list[WorkerEvent]:
    out: list[WorkerEvent] = []
    i = 0
    for d in range(days):
        for _ in range(per_day):
            out.append(task(i, day=d + 0.1 * _, payer=f"p-{i % payers}"))
            out.append(quality(i, day=d + 0.1 * _ + 0.01, score=0.95))
            out.append(payout(i, day=d + 0.1 * _ + 0.02, payer=f"p-{i % payers}", amount="40"))
            i += 1
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 29), st.integers(1, 10), st.integers(1, 30))
def test_trust_is_earned_tenure(days: int, payers: int, per_day: int) -> None:
    """No identity younger than the minimum tenure is trusted, however busy and good."""
    (s,) = run(honest_history(days, payers, per_day)).values()
    assert assess(MODEL, s).band != "trusted"


@settings(max_examples=30, deadline=None)
@given(st.integers(30, 120), st.integers(1, 2))
def test_trust_is_earned_payers(days: int, payers: int) -> None:
    """Fewer distinct payers than the minimum: never trusted."""
    (s,) = run(honest_history(days, payers)).values()
    assert assess(MODEL, s).band != "trusted"


def test_long_honest_history_with_many_payers_is_trusted() -> None:
    (s,) = run(honest_history(90, 5)).values()
    r = assess(MODEL, s)
    assert r.band == "trusted", r.band_rule
    assert "LONG_HISTORY" in r.reasons and "MANY_PAYERS" in r.reasons


def test_bad_worker_goes_to_review() -> None:
    events: list[WorkerEvent] = []
    for i in range(120):
        events.append(
            task(i, day=i * 0.5, outcome="rejected" if i % 3 else "abandoned", payer=f"p-{i % 4}")
        )
        events.append(quality(i, day=i * 0.5 + 0.01, score=0.2))
    (s,) = run(events).values()
    r = assess(MODEL, s)
    assert r.band == "review", r.band_rule
    assert r.reasons[0] in {"LOW_RELIABILITY", "LOW_QUALITY"}


def test_bands_do_not_flap_on_noise_around_the_threshold() -> None:
    """A trusted worker whose recent outcomes hover around the trusted threshold keeps its band."""
    events = honest_history(120, 5)
    rnd = random.Random(3)
    bands = []
    states = run(events)
    s = states["w-1"]
    for i in range(400):
        day = 120 + i * 0.25
        outcome = "accepted" if rnd.random() < 0.86 else "rejected"
        e = task(10_000 + i, day=day, outcome=outcome, payer=f"p-{i % 5}")
        s = apply_event(MODEL, s, "tasks", e)
        s = apply_event(
            MODEL,
            s,
            "quality",
            quality(10_000 + i, day=day + 0.01, score=0.75 + 0.1 * rnd.random()),
        )
        bands.append(assess(MODEL, s).band)
    changes = sum(1 for a, b in zip(bands, bands[1:], strict=False) if a != b)
    assert changes <= 2, bands
