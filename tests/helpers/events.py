"""Deterministic input events of every worker topic, for integration tests and benchmarks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from reputation.eip55 import checksum_address

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_events(
    n_workers: int, n_events: int, seed: int = 1
) -> list[tuple[str, dict[str, object]]]:
    """Return (topic short name, event) pairs: tasks, quality scores and payouts."""
    rnd = random.Random(seed)
    wallets = {f"w-{i}": checksum_address(f"{rnd.getrandbits(160):040x}") for i in range(n_workers)}
    out: list[tuple[str, dict[str, object]]] = []
    i = 0
    while len(out) < n_events:
        worker = f"w-{rnd.randrange(n_workers)}"
        payer = f"agent-{rnd.randrange(6)}"
        t = T0 + timedelta(minutes=rnd.randrange(60 * 24 * 70))
        outcome = rnd.choices(["accepted", "rejected", "late", "abandoned"], [86, 6, 5, 3])[0]
        out.append(
            (
                "tasks",
                {
                    "event_id": f"t-{i}",
                    "worker_id": worker,
                    "payer_id": payer,
                    "task_id": f"k-{i}",
                    "outcome": outcome,
                    "assigned_at": iso(t - timedelta(minutes=40)),
                    "completed_at": iso(t),
                    "reward": {"amount": f"{rnd.randrange(100, 5000) / 100:.2f}", "asset": "USDC"},
                    "context": {
                        "utc_offset_min": 60,
                        "ip_asn": 3320,
                        "country": "DE",
                        "device_id": f"d-{worker}",
                    },
                },
            )
        )
        out.append(
            (
                "quality",
                {
                    "event_id": f"q-{i}",
                    "worker_id": worker,
                    "task_id": f"k-{i}",
                    "scorer_id": payer,
                    "score": round(rnd.betavariate(8, 2), 4),
                    "weight": rnd.choice([0.5, 1.0, 2.0]),
                    "scored_at": iso(t + timedelta(minutes=20)),
                },
            )
        )
        if rnd.random() < 0.5:
            out.append(
                (
                    "payouts",
                    {
                        "event_id": f"p-{i}",
                        "worker_id": worker,
                        "payer_id": payer,
                        "wallet": wallets[worker],
                        "chain_id": 1,
                        "asset": "USDC",
                        "amount": f"{rnd.randrange(100, 5000) / 100:.2f}",
                        "paid_at": iso(t + timedelta(hours=2)),
                    },
                )
            )
        i += 1
    return out[:n_events]


#: Malformed messages and the dead-letter reason each must get.
MALFORMED: list[tuple[str, bytes, str]] = [
    ("tasks", b"{not json", "BAD_JSON"),
    ("tasks", b'{"event_id": "bad-1", "worker_id": "w-0"}', "MISSING_FIELD"),
    (
        "quality",
        b'{"event_id": "bad-2", "worker_id": "w-0", "task_id": "k", "scorer_id": "a", '
        b'"score": 1.7, "scored_at": "2026-09-02T00:00:00Z"}',
        "OUT_OF_RANGE",
    ),
    (
        "payouts",
        b'{"event_id": "bad-3", "worker_id": "w-0", "payer_id": "a", '
        b'"wallet": "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "chain_id": 1, '
        b'"asset": "USDC", "amount": "1.00", "paid_at": "2026-09-02T00:00:00Z"}',
        "BAD_CHECKSUM",
    ),
    (
        "payouts",
        b'{"event_id": "bad-4", "worker_id": "w-0", "payer_id": "a", '
        b'"wallet": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "chain_id": 1, '
        b'"asset": "USDC", "amount": "-1.00", "paid_at": "2026-09-02T00:00:00Z"}',
        "BAD_MONEY",
    ),
    (
        "tasks",
        b'{"event_id": "bad-5", "worker_id": "w-0", "payer_id": "a", "task_id": "k", '
        b'"outcome": "accepted", "assigned_at": "2099-01-01T00:00:00Z", '
        b'"completed_at": "2099-01-01T01:00:00Z"}',
        "FUTURE_TIME",
    ),
    ("quality", b"[1, 2, 3]", "NOT_AN_OBJECT"),
]


def standing_alerts(records: list[dict[str, object]]) -> list[dict[str, object]]:
    """The alerts of a ``vigil.alerts`` read-out that stand: withdrawals applied in order.

    A record with ``"status": "withdrawn"`` takes back the alert of the same id
    raised before it (records of one worker share a partition, so their order holds).
    An alert sent again under its id (an earlier ``detected_at``, or a repeat after
    a crash) is one alert: its latest record holds, as in ``vigil replay`` and
    ``GET /alerts``.
    """
    out: dict[str, dict[str, object]] = {}
    for rec in records:
        alert_id = str(rec["alert_id"])
        if rec.get("status") == "withdrawn":
            out.pop(alert_id, None)
        else:
            out[alert_id] = rec
    return list(out.values())
