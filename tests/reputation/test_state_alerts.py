"""Devices, open alerts and their record format on the worker state."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from reputation.codec import state_from_record, state_to_record
from reputation.drift import DriftModel
from reputation.events import TaskContext
from reputation.model import TrustModel
from reputation.state import MAX_DEVICES, WorkerState, fold_events, set_alert
from tests.reputation.conftest import task


def on_device(i: int, device: str, day: float) -> tuple[str, object]:
    t = task(i, day=day)
    return ("tasks", replace(t, context=TaskContext(device_id=device)))


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 30)), min_size=1, max_size=60),
    st.randoms(use_true_random=False),
)
def test_devices_keep_the_earliest_whatever_the_order(
    seen: list[tuple[int, int]], rnd: random.Random
) -> None:
    items = [on_device(i, f"d-{d}", day) for i, (d, day) in enumerate(seen)]
    a = fold_events(TrustModel(), WorkerState("w-1"), items).state  # type: ignore[arg-type]
    shuffled = list(items)
    rnd.shuffle(shuffled)
    b = fold_events(TrustModel(), WorkerState("w-1"), shuffled).state  # type: ignore[arg-type]
    assert a.devices == b.devices
    assert len(a.devices) <= MAX_DEVICES
    firsts: dict[str, float] = {}
    for d, day in seen:
        firsts[f"d-{d}"] = min(
            firsts.get(f"d-{d}", 1e18), (task(0, day=day).completed_at).timestamp()
        )
    earliest = sorted(firsts.items(), key=lambda kv: (kv[1], kv[0]))[:MAX_DEVICES]
    assert dict(earliest) == dict(a.devices)


def test_first_sightings_are_reported_once() -> None:
    model = TrustModel()
    first = fold_events(model, WorkerState("w-1"), [on_device(1, "d-1", 0)])  # type: ignore[list-item]
    assert [d for d, _, _ in first.devices] == ["d-1"]
    again = fold_events(model, first.state, [on_device(2, "d-1", 1)])  # type: ignore[list-item]
    assert again.devices == ()


def test_drift_findings_come_with_the_fold() -> None:
    """A new device with new hours after weeks of routine: the drift model reports it."""
    items = [on_device(i, "d-home", day=i // 3 + (i % 3) / 24) for i in range(3 * 20)]
    late = [
        (
            "tasks",
            replace(
                task(1000 + i, day=20 + i // 3 + 0.5 + (i % 3) / 24),
                context=TaskContext(device_id="d-new", ip_asn=64512, country="KP"),
            ),
        )
        for i in range(3 * 6)
    ]
    folded = fold_events(TrustModel(), WorkerState("w-1"), items + late, DriftModel())  # type: ignore[arg-type]
    assert "CONTEXT_SHIFT" in {f.type for f in folded.findings}


def test_open_alerts_round_trip_and_old_records_still_read() -> None:
    s = set_alert(WorkerState("w-1"), "a-1", "SHARED_WALLET", True)
    assert state_from_record(state_to_record(s)) == s
    old = state_to_record(WorkerState("w-1"))
    old = {k: v for k, v in old.items() if k not in ("open_alerts", "devices", "drift")}
    old.update(v=1, flags=["QUALITY_SHIFT"])
    back = state_from_record(old)
    assert back.flags == frozenset({"QUALITY_SHIFT"})
    assert set_alert(back, "v1:QUALITY_SHIFT", "QUALITY_SHIFT", False).flags == frozenset()


def test_alerts_cap_the_score() -> None:
    from reputation.assess import assess

    model = TrustModel()
    s = fold_events(model, WorkerState("w-1"), [("tasks", task(i, day=i)) for i in range(50)]).state
    clean = assess(model, s)
    flagged = assess(model, set_alert(s, "a", "CONTEXT_SHIFT", True))
    blocked = assess(model, set_alert(s, "b", "SANCTIONED_PAYOUT", True))
    assert clean.score > model.alert_score_cap
    assert flagged.score == model.alert_score_cap and flagged.band == "review"
    assert blocked.score == model.blocked_score_cap and blocked.band == "blocked"
    assert blocked.reasons[0] == "SANCTIONED_PAYOUT"
    assert (clean.as_of, clean.evidence) == (flagged.as_of, flagged.evidence)
