"""Versioned JSON records of `DriftState` (``{"v": 1, ...}``); never pickle.

Buckets travel as short arrays (the state is stored once per worker and
re-written on every event), times as integer microseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from reputation.drift.buckets import PayoutDay, QualityDay, Seen, TaskDay
from reputation.drift.state import DriftState
from reputation.errors import UnknownRecordVersionError

__all__ = ["DRIFT_STATE_VERSION", "drift_state_from_record", "drift_state_to_record"]

DRIFT_STATE_VERSION = 1

_Rows = list[list[object]]


def _seen_out(items: tuple[Seen[str], ...]) -> list[list[object]]:
    return [[s.value, s.ts_us, s.event_id] for s in items]


def _seen_in(rows: object) -> tuple[Seen[str], ...]:
    return tuple(Seen(str(r[0]), int(cast(int, r[1])), str(r[2])) for r in cast(_Rows, rows))


def drift_state_to_record(s: DriftState) -> dict[str, object]:
    """Return the JSON-ready record of a drift state.

    Examples
    --------
    >>> rec = drift_state_to_record(DriftState())
    >>> rec["v"], drift_state_from_record(rec) == DriftState()
    (1, True)
    """
    return {
        "v": DRIFT_STATE_VERSION,
        "tasks": [
            [
                d.day,
                d.n,
                d.hours_utc,
                d.hours_local,
                d.first_ts_us,
                d.first_id,
                _seen_out(d.devices),
                list(d.asns),
                list(d.countries),
                list(d.offsets),
            ]
            for d in s.tasks
        ],  # fmt: skip
        "quality": [
            [d.day, d.n, d.w, d.ws, d.wss, d.first_ts_us, d.first_id, list(d.hist)]
            for d in s.quality
        ],
        "payouts": [
            [d.day, d.n, d.first_ts_us, d.first_id, _seen_out(d.wallets)] for d in s.payouts
        ],
        "active": sorted(s.active),
        "floors": dict(sorted(s.floors.items())),
        "device_facts": _seen_out(s.device_facts),
        "wallet_facts": _seen_out(s.wallet_facts),
        "paired": [list(p) for p in s.paired],
    }


def drift_state_from_record(rec: Mapping[str, object]) -> DriftState:
    """Return the drift state of a record written by `drift_state_to_record`.

    Raises `UnknownRecordVersionError` for any other version.

    Examples
    --------
    >>> drift_state_from_record({"v": 2})
    Traceback (most recent call last):
    ...
    reputation.errors.UnknownRecordVersionError: drift state version must be 1, got 2
    """
    if rec.get("v") != DRIFT_STATE_VERSION:
        raise UnknownRecordVersionError(
            f"drift state version must be {DRIFT_STATE_VERSION}, got {rec.get('v')!r}"
        )
    tasks = tuple(
        TaskDay(
            int(cast(int, r[0])), int(cast(int, r[1])), int(cast(int, r[2])),
            int(cast(int, r[3])), int(cast(int, r[4])), str(r[5]), _seen_in(r[6]),
            tuple(int(a) for a in cast(list[int], r[7])),
            tuple(str(c) for c in cast(list[str], r[8])),
            tuple(int(o) for o in cast(list[int], r[9])),
        )
        for r in cast(_Rows, rec["tasks"])
    )  # fmt: skip
    quality = tuple(
        QualityDay(
            int(cast(int, r[0])),
            int(cast(int, r[1])),
            int(cast(int, r[2])),
            int(cast(int, r[3])),
            int(cast(int, r[4])),
            int(cast(int, r[5])),
            str(r[6]),
            tuple(int(x) for x in cast(list[int], r[7])),
        )
        for r in cast(_Rows, rec["quality"])
    )
    payouts = tuple(
        PayoutDay(int(cast(int, r[0])), int(cast(int, r[1])), int(cast(int, r[2])), str(r[3]),
                  _seen_in(r[4]))
        for r in cast(_Rows, rec["payouts"])
    )  # fmt: skip
    return DriftState(
        tasks=tasks,
        quality=quality,
        payouts=payouts,
        active=frozenset(str(a) for a in cast(list[str], rec["active"])),
        floors={str(k): int(v) for k, v in cast(dict[str, int], rec["floors"]).items()},
        device_facts=_seen_in(rec["device_facts"]),
        wallet_facts=_seen_in(rec["wallet_facts"]),
        paired=tuple((str(p[0]), str(p[1])) for p in cast(list[list[str]], rec["paired"])),
    )
