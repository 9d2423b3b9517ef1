from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import strategies as st

from reputation.events import Address, Money, PayoutEvent, QualityEvent, TaskEvent, WorkerEvent
from reputation.idwindow import DedupConfig

#: An id window wider than the generators' timelines (up to 500 days): the
#: order-independence properties hold for disorder within the horizon
#: (tests/reputation/test_idwindow.py shows what happens beyond it).
WIDE = DedupConfig(horizon_days=1000)
T0 = datetime(2026, 9, 1, tzinfo=UTC)
WALLET = Address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")


def task(
    i: int, worker: str = "w-1", *, day: float = 0.0, outcome: str = "accepted", payer: str = "p-1"
) -> TaskEvent:
    t = T0 + timedelta(days=day)
    return TaskEvent(
        f"t-{i}",
        worker,
        payer,
        f"k-{i}",
        outcome,  # type: ignore[arg-type]
        t - timedelta(minutes=30),
        t,
        Money(Decimal("10"), "USDC"),
        None,
    )


def quality(
    i: int, worker: str = "w-1", *, day: float = 0.0, score: float = 0.9, weight: float = 1.0
) -> QualityEvent:
    return QualityEvent(
        f"q-{i}", worker, f"k-{i}", "agent-1", score, weight, T0 + timedelta(days=day)
    )


def payout(
    i: int, worker: str = "w-1", *, day: float = 0.0, payer: str = "p-1", amount: str = "10"
) -> PayoutEvent:
    return PayoutEvent(
        f"p-{i}", worker, payer, WALLET, 1, "USDC", Decimal(amount), None, T0 + timedelta(days=day)
    )


KIND = {TaskEvent: "tasks", QualityEvent: "quality", PayoutEvent: "payouts"}


def kind_of(e: WorkerEvent) -> str:
    return KIND[type(e)]


@st.composite
def worker_events(draw: st.DrawFn, max_size: int = 60, workers: int = 3) -> list[WorkerEvent]:
    n = draw(st.integers(1, max_size))
    out: list[WorkerEvent] = []
    for i in range(n):
        w = f"w-{draw(st.integers(0, workers - 1))}"
        day = draw(st.floats(0, 400, allow_nan=False))
        k = draw(st.sampled_from(["t", "q", "p"]))
        payer = f"p-{draw(st.integers(0, 5))}"
        if k == "t":
            out.append(
                task(
                    i,
                    w,
                    day=day,
                    payer=payer,
                    outcome=draw(st.sampled_from(["accepted", "rejected", "late", "abandoned"])),
                )
            )
        elif k == "q":
            out.append(
                quality(i, w, day=day, score=draw(st.floats(0, 1)), weight=draw(st.floats(0.1, 5)))
            )
        else:
            out.append(
                payout(i, w, day=day, payer=payer, amount=str(draw(st.decimals(0, 5000, places=2))))
            )
    return out


@pytest.fixture
def make_task() -> Callable[..., TaskEvent]:
    return task
