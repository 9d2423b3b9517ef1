from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reputation.drift import DRIFT_TYPES, DriftModel, DriftState, UnknownChannelError
from reputation.errors import ConfigError

from .conftest import (
    T0,
    WALLET_A,
    WALLET_B,
    DriftEvent,
    Standing,
    make_payout,
    make_quality,
    make_task,
    run_batches,
)

MODEL = DriftModel()
WALLET = (WALLET_A, WALLET_B)


def alerts(events: list[DriftEvent], model: DriftModel = MODEL, batch: int = 1) -> Standing:
    return run_batches(events, model, batch)[1]


def types(standing: Standing) -> list[str]:
    return sorted(k[0] for k in standing)


def test_no_finding_on_stationary_input(make_history: Callable[..., list[DriftEvent]]) -> None:
    assert alerts(make_history(80)) == {}


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
    assert alerts(events) == {}


def test_takeover_raises_hours_and_context(make_history: Callable[..., list[DriftEvent]]) -> None:
    found = alerts(make_history(40, change_day=30))
    assert {"ACTIVITY_HOURS_SHIFT", "CONTEXT_SHIFT"} <= set(types(found))
    change = (T0 + timedelta(days=30)).isoformat()
    assert all(k[1] >= change for k in found)
    ctx = next(v for k, v in found.items() if k[0] == "CONTEXT_SHIFT")
    assert {"new_device", "new_network"} <= set(ctx["pooled"])  # type: ignore[arg-type]
    assert len(ctx["pooled"]) >= 3  # type: ignore[arg-type]  # and a behavioural signal


def test_laptop_farm_same_device_network_and_offset_is_found(
    make_history: Callable[..., list[DriftEvent]],
) -> None:
    # The owner's own laptop, network and country: only the hours (10 h later) and the
    # volume of work change.
    found = alerts(
        make_history(45, change_day=30, shift_h=10.0, new_device=False, new_asn=False, surge=2)
    )
    assert "ACTIVITY_HOURS_SHIFT" in types(found)
    assert "CONTEXT_SHIFT" not in types(found)
    ev = next(v for k, v in found.items() if k[0] == "ACTIVITY_HOURS_SHIFT")
    assert "hours" in ev["pooled"] and "velocity" in ev["pooled"]  # type: ignore[operator]


def test_trip_with_same_laptop_is_quiet() -> None:
    # A week abroad: the same device, a new network, country and offset; local hours kept.
    events: list[DriftEvent] = []
    i = 0
    for day in range(50):
        away = 30 <= day < 37
        for hour in (9.0, 10.0, 11.0, 14.0):
            i += 1
            shift = -9.0 if away else 0.0  # UTC hours move by the time-zone change
            offset = 240 if away else -300
            t = make_task(
                i, day, (hour + shift) % 24, asn=3320 if away else 7922, offset=offset,
                country="DE" if away else "US",
            )  # fmt: skip
            events.append(("tasks", t))
            events.append(("quality", make_quality(i, day, (hour + shift + 0.5) % 24, 0.9)))
    assert alerts(events) == {}


def test_new_laptop_and_new_isp_alone_are_quiet() -> None:
    events: list[DriftEvent] = []
    i = 0
    for day in range(50):
        for hour in (9.0, 10.0, 11.0):
            i += 1
            dev = "d-2" if day >= 30 else "d-1"
            asn = 4134 if day >= 35 else 7922
            events.append(("tasks", make_task(i, day, hour, device=dev, asn=asn)))
    assert alerts(events) == {}


def test_dst_change_is_quiet() -> None:
    # Local hours kept; UTC hours move by one hour with the offset.
    events: list[DriftEvent] = []
    i = 0
    for day in range(60):
        offset = -240 if day < 30 else -300
        for hour in (9.0, 10.0, 11.0, 15.0):
            i += 1
            utc = hour - offset / 60
            events.append(("tasks", make_task(i, day, utc % 24, offset=offset)))
    assert alerts(events) == {}


def test_quality_shift_and_velocity_surge(make_history: Callable[..., list[DriftEvent]]) -> None:
    found = alerts(
        make_history(
            40, change_day=30, shift_h=0.0, new_device=False, new_asn=False, quality_drop=0.3
        )
    )
    assert types(found) == ["QUALITY_SHIFT"]
    found = alerts(
        make_history(40, change_day=30, shift_h=0.0, new_device=False, new_asn=False, surge=6)
    )
    assert types(found) == ["VELOCITY_SURGE"]


def test_slow_quality_decline_over_three_weeks_is_found() -> None:
    # 0.25 lower, ramped linearly over 21 days: no single week-to-week step is large.
    events: list[DriftEvent] = []
    i = 0
    for day in range(80):
        ramp = min(1.0, max(0.0, (day - 40) / 21))
        for hour in (9.0, 11.0, 14.0):
            i += 1
            events.append(("tasks", make_task(i, day, hour)))
            score = 0.88 - 0.25 * ramp + 0.05 * ((i * 7919) % 5 - 2) / 2
            events.append(("quality", make_quality(i, day, hour + 0.5, score)))
    found = alerts(events)
    assert types(found) == ["QUALITY_SHIFT"]
    assert next(iter(found))[1] < (T0 + timedelta(days=70)).isoformat()


def test_wallet_change_alone_is_not_raised(make_history: Callable[..., list[DriftEvent]]) -> None:
    found = alerts(
        make_history(
            40, change_day=30, shift_h=0.0, new_device=False, new_asn=False, wallet_change=True
        )
    )
    assert found == {}


@pytest.mark.parametrize("order", ["tasks_first", "payouts_first", "quality_first", "reversed"])
def test_any_interleaving_gives_the_same_alerts(
    make_history: Callable[..., list[DriftEvent]], order: str
) -> None:
    events = make_history(40, change_day=30, wallet_change=True, quality_drop=0.3)
    reference = alerts(events)
    assert "PAYOUT_WALLET_CHANGE" in types(reference)
    if order == "reversed":
        reordered = events[::-1]
    else:
        rank = {
            "tasks_first": {"tasks": 0, "quality": 1, "payouts": 2},
            "payouts_first": {"payouts": 0, "tasks": 1, "quality": 2},
            "quality_first": {"quality": 0, "payouts": 1, "tasks": 2},
        }[order]
        reordered = sorted(events, key=lambda ke: rank[ke[0]])  # stable within a channel
    assert set(alerts(reordered, batch=7)) == set(reference)


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([3, 50, 10_000]), st.sampled_from([0, 4]))
def test_shuffled_batched_and_redelivered_streams_end_with_the_same_alerts(
    seed: int, batch: int, dup: int
) -> None:
    from .conftest import history

    events = history(42, change_day=28, wallet_change=True, quality_drop=0.3, surge=2)
    reference_state, reference, _ = run_batches(events, MODEL, batch=10**6)
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    state, found, _ = run_batches(shuffled, MODEL, batch=batch, dup_every=dup)
    assert set(found) == set(reference)
    assert state.episodes == reference_state.episodes  # type: ignore[attr-defined]


def test_withdrawal_when_late_evidence_removes_an_episode() -> None:
    model = DriftModel()
    base = [
        ("tasks", make_task(i * 3 + k, i, h))
        for i in range(20)
        for k, h in enumerate((9.0, 10.0, 11.0))
    ]
    # Days 20-23 at night on a new device and network: a shift (with a new device).
    night = [
        ("tasks", make_task(500 + d * 3 + k, 20 + d, h, device="d-9", asn=4134))
        for d in range(4)
        for k, h in enumerate((21.0, 22.0, 23.0))
    ]
    tail = [("tasks", make_task(900, 25, 9.0))]
    s, standing, _ = run_batches(base + night + tail, model, batch=10**6)
    assert "ACTIVITY_HOURS_SHIFT" in types(standing)
    # The same days' ordinary daytime work arrives late: mostly familiar hours again.
    day_work = [
        ("tasks", make_task(700 + d * 9 + k, 20 + d, 8.0 + k * 0.5))
        for d in range(4)
        for k in range(9)
    ]
    for kind, e in day_work:
        s = model.update(s, kind, e)
    s, found, gone = model.settle(s)
    assert {ep.type for ep in gone} >= {"ACTIVITY_HOURS_SHIFT"}
    _, reference, _ = run_batches(base + night + tail + day_work, model, batch=10**6)
    assert "ACTIVITY_HOURS_SHIFT" not in types(reference)


def test_rebaseline_stops_the_persisting_condition_and_a_new_change_raises_again(
    make_history: Callable[..., list[DriftEvent]],
) -> None:
    events = make_history(
        70, change_day=30, shift_h=0.0, new_device=False, new_asn=False, quality_drop=0.3
    )
    s, out, resolved = DriftState(), [], False
    for kind, e in events:
        s = MODEL.update(s, kind, e)
        s, found, _ = MODEL.settle(s)
        out.extend(found)
        if found and not resolved:
            s = MODEL.rebaseline(s, "QUALITY_SHIFT", e.time)
            s, again, _ = MODEL.settle(s)
            out.extend(again)
            resolved = True
    assert [f.type for f in out] == ["QUALITY_SHIFT"]
    later = [("quality", make_quality(10_000 + i, 70 + i // 3, 9 + i % 3, 0.2)) for i in range(45)]
    later.append(("tasks", make_task(20_000, 90, 9.0)))
    for kind, e in later:
        s = MODEL.update(s, kind, e)
        s, found, _ = MODEL.settle(s)
        out.extend(found)
    assert [f.type for f in out] == ["QUALITY_SHIFT", "QUALITY_SHIFT"]


def test_findings_carry_json_ready_evidence_with_pooled_signals(
    make_history: Callable[..., list[DriftEvent]],
) -> None:
    events = make_history(40, change_day=30, wallet_change=True, surge=3, quality_drop=0.3)
    s = DriftState()
    for kind, e in events:
        s = MODEL.update(s, kind, e)
    s, found, _ = MODEL.settle(s)
    assert {f.type for f in found} == set(DRIFT_TYPES)
    for f in found:
        json.dumps(dict(f.evidence))
        assert f.detected_at.utcoffset() == timedelta(0)
        assert f.event_ids and len(f.event_ids) == len(set(f.event_ids))
        assert f.evidence["pooled"], f.type


def test_events_beyond_the_horizon_are_ignored_and_state_is_bounded() -> None:
    model = DriftModel(horizon_days=40)
    s = DriftState()
    i = 0
    for day in range(200):
        for hour in range(0, 24, 3):
            i += 1
            s = model.update(
                s, "tasks", make_task(i, day, hour, device=f"d-{day % 50}", asn=i % 97)
            )
            s = model.update(s, "quality", make_quality(i, day, hour + 0.5, (i % 10) / 10))
        s = model.update(s, "payouts", make_payout(day, day, 23, WALLET[day % 2]))
        s, _, _ = model.settle(s)
    assert len(s.tasks) <= 40 and len(s.quality) <= 40 and len(s.payouts) <= 40
    assert len(s.marks) <= 40
    assert all(len(d.devices) <= model.max_values for d in s.tasks)
    before = s
    s = model.update(s, "tasks", make_task(10**6, 100, 9.0))
    assert s.ignored == before.ignored + 1 and s.tasks == before.tasks


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
        {"window_days": 4},
        {"horizon_days": 20},
        {"hours_shift": 0.0},
        {"hours_shift": 0.95},
        {"hours_shift_alone": 1.5},
        {"hours_familiar": 1.0},
        {"hours_smoothing_h": 7},
        {"velocity_ratio_new_device": 1.0},
        {"velocity_ratio_new_device": 6.0},
        {"quality_min_scores": 0},
        {"exit_fraction": 0.0},
        {"velocity_min_tasks": 0},
        {"quality_delta": 0.0},
        {"quality_z": -1.0},
        {"support_velocity": 1.0},
        {"wallet_window_days": 0.0},
        {"wallet_min_payout_days": 0},
        {"quality_max_recent_days": 4},
    ],
)
def test_hyperparameters_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        DriftModel(**kwargs)  # type: ignore[arg-type]


def test_new_laptop_with_a_new_wallet_the_same_week_is_quiet() -> None:
    # Two honest changes at once: no new network, no other hours.
    events: list[DriftEvent] = []
    i = 0
    for day in range(50):
        for hour in (9.0, 10.0, 11.0):
            i += 1
            events.append(("tasks", make_task(i, day, hour, device="d-2" if day >= 30 else "d-1")))
        events.append(("payouts", make_payout(day, day, 18.0, WALLET_B if day >= 32 else WALLET_A)))
    assert alerts(events) == {}
    # The same with a new network on the new device: a takeover's shape.
    events = [
        (k, make_task(int(e.event_id[2:]), (e.time - T0).days, 9.0, device="d-2", asn=4134))
        if k == "tasks" and (e.time - T0).days >= 30
        else (k, e)
        for k, e in events
    ]
    assert "PAYOUT_WALLET_CHANGE" in types(alerts(events))


def test_vpn_user_new_device_and_country_with_a_busy_week_is_quiet() -> None:
    # The baseline already shows many networks and countries (a VPN): one more means nothing.
    events: list[DriftEvent] = []
    i = 0
    countries = ("US", "NL", "DE", "JP", "SG")
    for day in range(50):
        for k, hour in enumerate((9.0, 10.0, 11.0) * (2 if day >= 30 else 1)):
            i += 1
            vpn = (day + k) % 3 == 0
            t = make_task(
                i, day, hour + 0.1 * k, device="d-2" if day >= 30 else "d-1",
                asn=9000 + (i % 7) if vpn else 7922,
                country=countries[i % 5] if vpn else "US",
            )  # fmt: skip
            events.append(("tasks", t))
    events.append(("tasks", make_task(10**5, 40, 9.0, asn=64512, country="BR", device="d-2")))
    assert "CONTEXT_SHIFT" not in types(alerts(sorted(events, key=lambda ke: ke[1].time)))
