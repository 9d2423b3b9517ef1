from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reputation.drift import DriftModel, DriftState
from reputation.drift.buckets import merge_seen, merge_values, put_day
from reputation.drift.hours import hour_counts, js_divergence, smooth_profile

from .conftest import WALLET_A, WALLET_B, DriftEvent, make_payout, make_quality, make_task

SMALL = DriftModel(horizon_days=12, window_days=8, recent_days=2, min_baseline_days=3, max_values=2)


@st.composite
def event_sets(draw: st.DrawFn) -> list[DriftEvent]:
    n = draw(st.integers(1, 60))
    out: list[DriftEvent] = []
    for i in range(n):
        day = draw(st.integers(0, 11))
        hour = draw(st.floats(0, 23.99))
        kind = draw(st.sampled_from(["tasks", "quality", "payouts"]))
        if kind == "tasks":
            dev = draw(st.sampled_from(["d-1", "d-2", "d-3", None]))
            asn = draw(st.sampled_from([1, 2, 3, None]))
            off = draw(st.sampled_from([-300, 60, None]))
            ctx = draw(st.booleans())
            out.append(
                ("tasks", make_task(i, day, hour, device=dev, asn=asn, offset=off, context=ctx))
            )
        elif kind == "quality":
            score = draw(st.floats(0, 1))
            weight = draw(st.sampled_from([0.5, 1.0, 2.0, 0.3]))
            out.append(("quality", make_quality(i, day, hour, score, weight)))
        else:
            out.append(
                ("payouts", make_payout(i, day, hour, draw(st.sampled_from([WALLET_A, WALLET_B]))))
            )
    return out


def aggregates(events: list[DriftEvent], model: DriftModel = SMALL) -> tuple[object, ...]:
    s = DriftState()
    for kind, e in events:
        s = model.update(s, kind, e)
    return (s.tasks, s.quality, s.payouts)


@settings(max_examples=150, deadline=None)
@given(event_sets(), st.randoms(use_true_random=False))
def test_aggregates_are_order_free(events: list[DriftEvent], rnd: object) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert aggregates(shuffled) == aggregates(events)
    assert aggregates(list(reversed(events))) == aggregates(events)


@settings(max_examples=50, deadline=None)
@given(event_sets())
def test_windows_hold_every_day_of_the_horizon_whole(events: list[DriftEvent]) -> None:
    tasks, quality, payouts = aggregates(events)
    for kind, window in (("tasks", tasks), ("quality", quality), ("payouts", payouts)):
        days = sorted({int(e.time.timestamp()) // 86_400 for k, e in events if k == kind})
        kept = [d.day for d in window]  # type: ignore[attr-defined]
        assert kept == days  # every event is within the horizon here
        counts = {d.day: d.n for d in window}  # type: ignore[attr-defined]
        for k, e in events:
            if k == kind:
                counts[int(e.time.timestamp()) // 86_400] -= 1
        assert all(v == 0 for v in counts.values())


@given(
    st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 99)), max_size=30),
    st.randoms(use_true_random=False),
)
def test_capped_merges_are_order_free(items: list[tuple[str, int]], rnd: object) -> None:
    def fold(xs: list[tuple[str, int]]) -> tuple[object, object]:
        seen: tuple[object, ...] = ()
        vals: tuple[str, ...] = ()
        for v, t in xs:
            seen = merge_seen(seen, v, t, f"e-{t}", 3)  # type: ignore[arg-type]
            vals = merge_values(vals, v, 3)
        return seen, vals

    other = list(items)
    rnd.shuffle(other)  # type: ignore[attr-defined]
    assert fold(other) == fold(items)


def test_trim_days_drops_days_before_the_horizon() -> None:
    from reputation.drift.buckets import PayoutDay, trim_days

    w: tuple[PayoutDay, ...] = ()
    for d in (7, 5, 6):
        w = put_day(w, d, lambda d=d: PayoutDay(d, 1, 0, "p"), lambda b: b)
    assert [b.day for b in w] == [5, 6, 7]
    assert [b.day for b in trim_days(w, 6)] == [6, 7]


@given(st.lists(st.integers(0, 2**24 - 1), min_size=1, max_size=10), st.integers(0, 3))
def test_jsd_bounds_and_symmetry(masks: list[int], width: int) -> None:
    p = smooth_profile(hour_counts(masks), width)
    q = smooth_profile(hour_counts(masks[::-1][:1]), width)
    assert abs(sum(p) - 1.0) < 1e-9
    d = js_divergence(p, q)
    assert 0.0 <= d <= 1.0
    assert abs(d - js_divergence(q, p)) < 1e-12
    assert js_divergence(p, p) < 1e-12


def test_hours_wrap_around_midnight() -> None:
    late = smooth_profile(hour_counts([1 << 23]), 1)
    early = smooth_profile(hour_counts([1 << 0]), 1)
    noon = smooth_profile(hour_counts([1 << 12]), 1)
    assert js_divergence(late, early) < js_divergence(late, noon)
