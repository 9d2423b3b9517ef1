"""Versioned JSON records of `DriftState` (``{"v": 2, ...}``); never pickle.

Buckets travel as short arrays (the state is stored once per worker and
re-written on every batch), times as integer microseconds since the epoch.
Version 1 records (before the day verdicts) still read: their windows are
kept, their episode bookkeeping is dropped and every retained day is judged
again at the next `DriftModel.settle`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from reputation.drift.buckets import PayoutDay, QualityDay, Seen, TaskDay
from reputation.drift.state import DriftState, Episode
from reputation.errors import UnknownRecordVersionError

__all__ = ["DRIFT_STATE_VERSION", "drift_state_from_record", "drift_state_to_record"]

DRIFT_STATE_VERSION = 2

_Rows = list[list[object]]


def _seen_out(items: tuple[Seen[str], ...]) -> list[list[object]]:
    return [[s.value, s.ts_us, s.event_id] for s in items]


def _seen_in(rows: object) -> tuple[Seen[str], ...]:
    return tuple(Seen(str(r[0]), int(cast(int, r[1])), str(r[2])) for r in cast(_Rows, rows))


def _int(x: object) -> int:
    return int(cast(int, x))


def drift_state_to_record(s: DriftState) -> dict[str, object]:
    """Return the JSON-ready record of a drift state.

    Examples
    --------
    >>> rec = drift_state_to_record(DriftState())
    >>> rec["v"], drift_state_from_record(rec) == DriftState()
    (2, True)
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
                d.last_ts_us,
                d.last_id,
                d.dur_s,
            ]
            for d in s.tasks
        ],  # fmt: skip
        "quality": [
            [
                d.day,
                d.n,
                d.w,
                d.ws,
                d.wss,
                d.first_ts_us,
                d.first_id,
                list(d.hist),
                d.last_ts_us,
                d.last_id,
            ]
            for d in s.quality
        ],  # fmt: skip
        "payouts": [
            [d.day, d.n, d.first_ts_us, d.first_id, _seen_out(d.wallets), d.last_ts_us, d.last_id]
            for d in s.payouts
        ],
        "max_day": s.max_day,
        "floors": dict(sorted(s.floors.items())),
        "marks": [list(m) for m in s.marks],
        "dirty": [list(r) for r in s.dirty],
        "episodes": [[e.type, e.day, e.ts_us, e.event_id, e.resolved_day] for e in s.episodes],
        "ignored": s.ignored,
    }


def _tasks(rows: object, v: int) -> tuple[TaskDay, ...]:
    out = []
    for r in cast(_Rows, rows):
        last_ts, last_id, dur = (
            (_int(r[10]), str(r[11]), _int(r[12])) if v >= 2 else (_int(r[4]), str(r[5]), 0)
        )
        out.append(
            TaskDay(
                _int(r[0]),
                _int(r[1]),
                _int(r[2]),
                _int(r[3]),
                _int(r[4]),
                str(r[5]),
                _seen_in(r[6]),
                tuple(int(a) for a in cast(list[int], r[7])),
                tuple(str(c) for c in cast(list[str], r[8])),
                tuple(int(o) for o in cast(list[int], r[9])),
                last_ts,
                last_id,
                dur,
            )  # fmt: skip
        )
    return tuple(out)


def _quality(rows: object, v: int) -> tuple[QualityDay, ...]:
    out = []
    for r in cast(_Rows, rows):
        last_ts, last_id = (_int(r[8]), str(r[9])) if v >= 2 else (_int(r[5]), str(r[6]))
        out.append(
            QualityDay(
                _int(r[0]),
                _int(r[1]),
                _int(r[2]),
                _int(r[3]),
                _int(r[4]),
                _int(r[5]),
                str(r[6]),
                tuple(int(x) for x in cast(list[int], r[7])),
                last_ts,
                last_id,
            )  # fmt: skip
        )
    return tuple(out)


def _payouts(rows: object, v: int) -> tuple[PayoutDay, ...]:
    out = []
    for r in cast(_Rows, rows):
        last_ts, last_id = (_int(r[5]), str(r[6])) if v >= 2 else (_int(r[2]), str(r[3]))
        out.append(
            PayoutDay(_int(r[0]), _int(r[1]), _int(r[2]), str(r[3]), _seen_in(r[4]),
                      last_ts, last_id)
        )  # fmt: skip
    return tuple(out)


def drift_state_from_record(rec: Mapping[str, object]) -> DriftState:
    """Return the drift state of a record written by `drift_state_to_record` (v1 or v2).

    Raises `UnknownRecordVersionError` for any other version.

    Examples
    --------
    >>> drift_state_from_record({"v": 3})
    Traceback (most recent call last):
    ...
    reputation.errors.UnknownRecordVersionError: drift state version must be 1 or 2, got 3
    """
    v = rec.get("v")
    if v not in (1, 2):
        raise UnknownRecordVersionError(f"drift state version must be 1 or 2, got {v!r}")
    version = 2 if v == 2 else 1
    tasks = _tasks(rec["tasks"], version)
    quality = _quality(rec["quality"], version)
    payouts = _payouts(rec["payouts"], version)
    floors = {str(k): int(x) for k, x in cast(dict[str, int], rec["floors"]).items()}
    if version == 1:
        days = [d.day for d in tasks] + [d.day for d in quality] + [d.day for d in payouts]
        return DriftState(
            tasks, quality, payouts,
            max_day=max(days) if days else None,
            floors=floors,
            dirty=((min(days), 10**9),) if days else (),
        )  # fmt: skip
    max_day = rec.get("max_day")
    return DriftState(
        tasks=tasks,
        quality=quality,
        payouts=payouts,
        max_day=None if max_day is None else _int(max_day),
        floors=floors,
        marks=tuple((_int(m[0]), _int(m[1])) for m in cast(_Rows, rec["marks"])),
        dirty=tuple((_int(r[0]), _int(r[1])) for r in cast(_Rows, rec["dirty"])),
        episodes=tuple(
            Episode(
                str(e[0]), _int(e[1]), _int(e[2]), str(e[3]), None if e[4] is None else _int(e[4])
            )
            for e in cast(_Rows, rec["episodes"])
        ),  # fmt: skip
        ignored=_int(rec.get("ignored", 0)),
    )
