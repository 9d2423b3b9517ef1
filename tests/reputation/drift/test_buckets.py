from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reputation.drift import DriftModel, DriftState
from reputation.drift.buckets import merge_seen, merge_values, put_day
from reputation.drift.hours import hour_counts, js_divergence, smooth_profile

from .conftest import WALLET_A, WALLET_B, DriftEvent, make_payout, make_quality, make_task

SMALL = DriftModel(window_days=8, recent_days=2, min_baseline_days=3, max_values=2, max_facts=2)


@st.composite
def event_sets(draw: st.DrawFn) -> list[DriftEvent]:
    n = draw(st.integers(1, 60))
    out: list[DriftEvent] = []
    for i in range(n):
        day = draw(st.integers(0, 20))
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
        s, _ = model.update(s, kind, e)
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
def test_window_keeps_the_latest_days_whole(events: list[DriftEvent]) -> None:
    tasks, quality, payouts = aggregates(events)
    for kind, window in (("tasks", tasks), ("quality", quality), ("payouts", payouts)):
        days = sorted({e.time.toordinal() for k, e in events if k == kind})
        kept = [d.day for d in window]  # type: ignore[attr-defined]
        assert len(kept) == min(len(days), SMALL.window_days)
        assert kept == sorted(kept)
        counts = {d.day: d.n for d in window}  # type: ignore[attr-defined]
        for k, e in events:
            if k == kind:
                day = int(e.time.timestamp()) // 86_400
                if day in counts:
                    counts[day] -= 1
        assert all(v == 0 for v in counts.values())


def test_state_size_is_bounded_after_many_days() -> None:
    model = DriftModel()
    s = DriftState()
    i = 0
    for day in range(400):
        for hour in range(0, 24, 3):
            i += 1
            dev = f"d-{day % 50}-{hour}"
            s, _ = model.update(s, "tasks", make_task(i, day, hour, device=dev, asn=i % 97))
            s, _ = model.update(s, "quality", make_quality(i, day, hour + 0.5, (i % 10) / 10))
        s, _ = model.update(
            s, "payouts", make_payout(day, day, 23, WALLET_A if day % 2 else WALLET_B)
        )
    assert len(s.tasks) == len(s.quality) == len(s.payouts) == model.window_days
    assert all(
        len(d.devices) <= model.max_values and len(d.asns) <= model.max_values for d in s.tasks
    )
    assert len(s.device_facts) <= model.max_facts and len(s.wallet_facts) <= model.max_facts
    assert len(s.paired) <= 2 * model.max_facts


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


def test_put_day_drops_days_older_than_the_window() -> None:
    from reputation.drift.buckets import PayoutDay

    w: tuple[PayoutDay, ...] = ()
    for d in (5, 6, 7):
        w = put_day(w, d, 3, lambda d=d: PayoutDay(d, 1, 0, "p"), lambda b: b)
    assert put_day(w, 2, 3, lambda: PayoutDay(2, 1, 0, "p"), lambda b: b) is w


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
