from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reputation.drift import DRIFT_TYPES, DriftModel, DriftState, Finding, UnknownChannelError
from reputation.errors import ConfigError

from .conftest import T0, DriftEvent, make_quality, make_task

MODEL = DriftModel()


def run(events: list[DriftEvent], model: DriftModel = MODEL) -> tuple[DriftState, list[Finding]]:
    s, out = DriftState(), []
    for kind, e in events:
        s, found = model.update(s, kind, e)
        out.extend(found)
    return s, out


def keyset(found: list[Finding]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(f.type, f.detected_at.isoformat(), f.event_ids) for f in found}


def test_no_finding_on_stationary_input(make_history: Callable[..., list[DriftEvent]]) -> None:
    _, found = run(make_history(80))
    assert found == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.sets(st.sampled_from([8.0, 9.0, 10.0, 11.0]), min_size=1), min_size=20, max_size=60
    ),
    st.floats(0.85, 0.95),
)
def test_no_finding_on_stationary_random_days(day_hours: list[set[float]], q: float) -> None:
    events: list[DriftEvent] = []
    i = 0
    for day, hours in enumerate(day_hours):
        for h in sorted(hours):
            i += 1
            events.append(("tasks", make_task(i, day, h)))
            events.append(("quality", make_quality(i, day, h + 0.2, q + 0.01 * (i % 3 - 1))))
    _, found = run(events)
    assert found == []


def test_takeover_raises_hours_and_context(make_history: Callable[..., list[DriftEvent]]) -> None:
    _, found = run(make_history(40, change_day=30))
    types = {f.type for f in found}
    assert {"ACTIVITY_HOURS_SHIFT", "CONTEXT_SHIFT"} <= types
    change = T0 + timedelta(days=30)
    assert all(f.detected_at >= change for f in found)
    ctx = next(f for f in found if f.type == "CONTEXT_SHIFT")
    assert ctx.detected_at < change + timedelta(days=1)
    assert ctx.evidence["new_devices"][0]["value"] == "d-2"  # type: ignore[index]


def test_each_finding_is_reported_once_per_episode(
    make_history: Callable[..., list[DriftEvent]],
) -> None:
    _, found = run(make_history(45, change_day=30))
    types = [f.type for f in found]
    assert len(types) == len(set(types))


def test_traveller_hours_move_in_utc_only() -> None:
    events: list[DriftEvent] = []
    for day in range(40):
        trip = 30 <= day < 36
        offset = 480 if trip else -300
        for k, local in enumerate((9.0, 10.0, 11.0)):
            utc = (local - offset / 60) % 24
            events.append(
                (
                    "tasks",
                    make_task(
                        day * 3 + k,
                        day,
                        utc,
                        offset=offset,
                        asn=9 if trip else 1,
                        country="TH" if trip else "US",
                    ),
                )
            )
    _, found = run(events)
    assert found == []


def test_quality_shift_and_velocity_surge(make_history: Callable[..., list[DriftEvent]]) -> None:
    _, found = run(
        make_history(
            40, change_day=30, shift_h=0.0, new_device=False, new_asn=False, quality_drop=0.3
        )
    )
    assert [f.type for f in found] == ["QUALITY_SHIFT"]
    _, found = run(
        make_history(40, change_day=30, shift_h=0.0, new_device=False, new_asn=False, surge=6)
    )
    assert [f.type for f in found] == ["VELOCITY_SURGE"]


def test_wallet_change_alone_is_not_raised(make_history: Callable[..., list[DriftEvent]]) -> None:
    _, found = run(
        make_history(
            40, change_day=30, shift_h=0.0, new_device=False, new_asn=False, wallet_change=True
        )
    )
    assert found == []


@pytest.mark.parametrize("order", ["time", "tasks_first", "payouts_first", "quality_first"])
def test_wallet_change_with_new_device_any_interleaving(
    make_history: Callable[..., list[DriftEvent]], order: str
) -> None:
    events = make_history(40, change_day=30, wallet_change=True)
    _, reference = run(events)
    assert "PAYOUT_WALLET_CHANGE" in {f.type for f in reference}
    rank = {
        "time": {},
        "tasks_first": {"tasks": 0, "quality": 1, "payouts": 2},
        "payouts_first": {"payouts": 0, "tasks": 1, "quality": 2},
        "quality_first": {"quality": 0, "payouts": 1, "tasks": 2},
    }[order]
    reordered = sorted(events, key=lambda ke: rank.get(ke[0], 0))  # stable within a channel
    _, found = run(reordered)
    assert keyset(found) == keyset(reference)
    wallet = next(f for f in found if f.type == "PAYOUT_WALLET_CHANGE")
    assert wallet.evidence["after"]["wallet"]["value"] == "0x" + "b" * 40  # type: ignore[index]


def test_rebaseline_stops_the_persisting_condition_and_a_new_change_raises_again(
    make_history: Callable[..., list[DriftEvent]],
) -> None:
    events = [
        ke
        for ke in make_history(
            70, change_day=30, shift_h=0.0, new_device=False, new_asn=False, quality_drop=0.3
        )
    ]
    s, out = DriftState(), []
    resolved = False
    for kind, e in events:
        s, found = MODEL.update(s, kind, e)
        out.extend(found)
        if found and not resolved:
            s = MODEL.rebaseline(s, "QUALITY_SHIFT", e.time)
            resolved = True
    assert [f.type for f in out] == ["QUALITY_SHIFT"]
    # A second, later drop after the new normal raises again.
    later = [("quality", make_quality(10_000 + i, 70 + i // 3, 9 + i % 3, 0.2)) for i in range(30)]
    for kind, e in later:
        s, found = MODEL.update(s, kind, e)
        out.extend(found)
    assert [f.type for f in out] == ["QUALITY_SHIFT", "QUALITY_SHIFT"]


def test_findings_carry_json_ready_evidence(make_history: Callable[..., list[DriftEvent]]) -> None:
    import json

    _, found = run(make_history(40, change_day=30, wallet_change=True, surge=3, quality_drop=0.3))
    assert {f.type for f in found} == set(DRIFT_TYPES)
    for f in found:
        json.dumps(dict(f.evidence))
        assert f.detected_at.utcoffset() == timedelta(0)
        assert f.event_ids and len(f.event_ids) == len(set(f.event_ids))


def test_unknown_channel_is_rejected() -> None:
    with pytest.raises(UnknownChannelError):
        MODEL.update(DriftState(), "transfers", make_task(1, 0, 9))  # type: ignore[arg-type]
    with pytest.raises(UnknownChannelError):
        MODEL.update(DriftState(), "quality", make_task(1, 0, 9))
    with pytest.raises(ConfigError):
        MODEL.rebaseline(DriftState(), "SHARED_WALLET", T0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"recent_days": 0},
        {"min_baseline_days": 0},
        {"window_days": 5},
        {"hours_threshold": 0.0},
        {"hours_threshold": 1.5},
        {"hours_smoothing_h": 7},
        {"velocity_ratio_new_device": 1.0},
        {"velocity_ratio_new_device": 6.0},
        {"quality_min_scores": 0},
        {"hours_threshold_alone": 0.5},
        {"exit_fraction": 0.0},
        {"velocity_min_tasks": 0},
        {"quality_delta": 0.0},
        {"quality_z": -1.0},
        {"wallet_window_days": 0.0},
        {"wallet_min_payout_days": 0},
        {"max_facts": 0},
    ],
)
def test_hyperparameters_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        DriftModel(**kwargs)  # type: ignore[arg-type]


@given(st.integers(1, 10), st.integers(1, 10), st.integers(0, 20))
def test_window_must_hold_baseline_and_recent(recent: int, base: int, extra: int) -> None:
    DriftModel(window_days=recent + base + extra, recent_days=recent, min_baseline_days=base)
    with pytest.raises(ConfigError):
        DriftModel(window_days=recent + base - 1, recent_days=recent, min_baseline_days=base)
