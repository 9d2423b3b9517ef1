from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from reputation.events import Address, PayoutEvent, QualityEvent, TaskContext, TaskEvent

T0 = datetime(2026, 9, 1, tzinfo=UTC)
WALLET_A = Address("0x" + "a" * 40)
WALLET_B = Address("0x" + "b" * 40)

DriftEvent = tuple[str, TaskEvent | QualityEvent | PayoutEvent]


def make_task(
    i: int,
    day: int,
    hour: float,
    *,
    device: str | None = "d-1",
    asn: int | None = 7922,
    country: str | None = "US",
    offset: int | None = -300,
    context: bool = True,
) -> TaskEvent:
    t = T0 + timedelta(days=day, hours=hour)
    ctx = TaskContext(offset, asn, country, device) if context else None
    return TaskEvent(f"t-{i}", "w-1", "p-1", f"k-{i}", "accepted", t, t, None, ctx)


def make_quality(i: int, day: int, hour: float, score: float, weight: float = 1.0) -> QualityEvent:
    return QualityEvent(
        f"q-{i}", "w-1", f"k-{i}", "agent-1", score, weight, T0 + timedelta(days=day, hours=hour)
    )


def make_payout(i: int, day: int, hour: float, wallet: Address = WALLET_A) -> PayoutEvent:
    t = T0 + timedelta(days=day, hours=hour)
    return PayoutEvent(f"p-{i}", "w-1", "p-1", wallet, 1, "USDC", Decimal("10"), None, t)


def history(
    days: int,
    *,
    change_day: int | None = None,
    hours: tuple[float, ...] = (9.0, 10.0, 11.0),
    shift_h: float = 12.0,
    new_device: bool = True,
    new_asn: bool = True,
    wallet_change: bool = False,
    quality_drop: float = 0.0,
    surge: int = 1,
) -> list[DriftEvent]:
    """A worker's events in event-time order; from `change_day` on, a new operator."""
    out: list[DriftEvent] = []
    i = 0
    for day in range(days):
        changed = change_day is not None and day >= change_day
        for hour in hours:
            for rep in range(surge if changed else 1):
                i += 1
                h = (hour + (shift_h if changed else 0.0)) % 24 + rep * 0.1
                dev = "d-2" if changed and new_device else "d-1"
                asn = 4134 if changed and new_asn else 7922
                out.append(("tasks", make_task(i, day, h, device=dev, asn=asn)))
                score = 0.9 - (quality_drop if changed else 0.0) + 0.02 * ((i % 5) - 2)
                out.append(("quality", make_quality(i, day, h + 0.5, score)))
        wallet = WALLET_B if wallet_change and changed else WALLET_A
        out.append(("payouts", make_payout(day, day, 23.5, wallet)))
    out.sort(key=lambda ke: (ke[1].time, ke[1].event_id))
    return out


@pytest.fixture
def make_history() -> Callable[..., list[DriftEvent]]:
    return history


Standing = dict[tuple[str, str, str], dict[str, object]]


def run_batches(
    events: list[DriftEvent], model: object, batch: int = 1, dup_every: int = 0
) -> tuple[object, Standing, int]:
    """Fold events in batches of `batch`, settling after each; return the standing alerts.

    Alerts are keyed (type, detected_at, triggering event id); a withdrawal removes
    one. `dup_every` > 0 redelivers every n-th event (the caller dedupes by id,
    as `reputation.state` does). Returns (state, standing alerts, withdrawals seen).
    """
    from reputation.drift import DriftModel, DriftState
    from reputation.drift.buckets import to_datetime

    assert isinstance(model, DriftModel)
    s = DriftState()
    standing: Standing = {}
    withdrawn = 0
    seen: set[tuple[str, str]] = set()
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        if dup_every:
            chunk = chunk + chunk[::dup_every]
        for kind, e in chunk:
            if (kind, e.event_id) in seen:
                continue
            seen.add((kind, e.event_id))
            s = model.update(s, kind, e)
        s, found, gone = model.settle(s)
        for ep in gone:
            key = (ep.type, to_datetime(ep.ts_us).isoformat(), ep.event_id)
            assert standing.pop(key, None) is not None
            withdrawn += 1
        for f in found:
            key = (f.type, f.detected_at.isoformat(), f.event_ids[0])
            assert key not in standing
            standing[key] = dict(f.evidence)
    return s, standing, withdrawn
