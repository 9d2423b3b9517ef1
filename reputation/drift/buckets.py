"""Order-free per-day aggregates of one worker's events, one bounded window per channel.

A window keeps the days (UTC day numbers) of the worker's event-time horizon
on which the channel saw an event, each as a bucket of exact aggregates:
counts, bit masks of the hours worked, integer fixed-point sums of quality
scores, and the first event (by event time, then id) of each device or wallet.
Every merge is commutative and associative (sums of integers, bitwise or,
minimum, maximum, the `cap` smallest keys), and a day is either kept whole or
dropped whole (`trim_days` drops the days before the horizon). So the same set
of events in any arrival order gives an equal window, as long as no event is
later than the horizon (see `reputation.drift.model`).

Memory per worker: at most one bucket per channel and day of the horizon, each
with at most `cap` entries per value kind.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

__all__ = [
    "DAY_US",
    "FIXED",
    "QUALITY_BINS",
    "PayoutDay",
    "QualityDay",
    "Seen",
    "TaskDay",
    "day_of",
    "first_of",
    "fixed",
    "last_of",
    "merge_seen",
    "merge_values",
    "micros",
    "put_day",
    "to_datetime",
    "trim_days",
]

DAY_US = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
#: Fixed-point scale of quality sums: exact integers, so any summation order agrees.
FIXED = 1_000_000
#: Bins of the per-day quality score histogram.
QUALITY_BINS = 25

K = TypeVar("K", str, int)
V = TypeVar("V", str, int)


def micros(t: datetime) -> int:
    """Return a tz-aware time as integer microseconds since the Unix epoch (exact).

    Examples
    --------
    >>> micros(datetime(1970, 1, 2, tzinfo=UTC))
    86400000000
    """
    return (t - _EPOCH) // _ONE_US


def to_datetime(ts_us: int) -> datetime:
    """Return microseconds since the epoch as a tz-aware UTC datetime.

    Examples
    --------
    >>> to_datetime(86_400_000_000).isoformat()
    '1970-01-02T00:00:00+00:00'
    """
    return _EPOCH + timedelta(microseconds=ts_us)


def day_of(ts_us: int) -> int:
    """Return the UTC day number of a time in microseconds."""
    return ts_us // DAY_US


@dataclass(frozen=True, slots=True)
class Seen(Generic[K]):
    """The first event (by time, then id) with a value on one day."""

    value: K
    ts_us: int
    event_id: str


def _value(s: Seen[K]) -> K:
    return s.value


def merge_seen(
    items: tuple[Seen[K], ...], value: K, ts_us: int, event_id: str, cap: int
) -> tuple[Seen[K], ...]:
    """Add an occurrence of `value`; keep the earliest per value and the `cap` smallest values.

    Examples
    --------
    >>> a = merge_seen((), "d-2", 20, "t-2", 2)
    >>> a = merge_seen(merge_seen(a, "d-1", 30, "t-3", 2), "d-2", 10, "t-1", 2)
    >>> [(s.value, s.ts_us) for s in merge_seen(a, "d-3", 5, "t-0", 2)]
    [('d-1', 30), ('d-2', 10)]
    """
    # `items` is sorted by value with distinct values (only this function builds
    # it): binary search, then one slice copy, instead of a scan and a sort.
    lo = bisect_left(items, value, key=_value)
    new: tuple[Seen[K], ...] = (Seen(value, ts_us, event_id),)
    if lo < len(items) and items[lo].value == value:
        old = items[lo]
        if (ts_us, event_id) < (old.ts_us, old.event_id):
            return items[:lo] + new + items[lo + 1 :]
        return items
    if lo >= cap:  # not among the `cap` smallest values
        return items
    return (items[:lo] + new + items[lo:])[:cap]


def merge_values(items: tuple[V, ...], value: V, cap: int) -> tuple[V, ...]:
    """Add `value` to a sorted tuple of distinct values capped at the `cap` smallest.

    Examples
    --------
    >>> merge_values(merge_values((3, 9), 5, 2), 3, 2)
    (3, 5)
    """
    if value in items:
        return items
    out = list(items)
    out.append(value)
    out.sort()
    return tuple(out[:cap])


@dataclass(frozen=True, slots=True)
class TaskDay:
    """Task completions of one UTC day.

    Parameters
    ----------
    day, n
        UTC day number and number of completions.
    hours_utc, hours_local
        24-bit masks of the hours with a completion (each hour counts once per
        day); local hours use the event's ``utc_offset_min`` when it has one.
    first_ts_us, first_id
        The day's first completion.
    devices, asns, countries, offsets
        Context values seen that day (the `cap` smallest of each kind).
    last_ts_us, last_id
        The day's last completion (by time, then id): the event an alert about
        the day points at, the same whatever the arrival order.
    dur_s
        Sum of the completions' working times (``completed_at - assigned_at``,
        whole seconds, each capped at a day).
    """

    day: int
    n: int
    hours_utc: int
    hours_local: int
    first_ts_us: int
    first_id: str
    devices: tuple[Seen[str], ...] = ()
    asns: tuple[int, ...] = ()
    countries: tuple[str, ...] = ()
    offsets: tuple[int, ...] = ()
    last_ts_us: int = 0
    last_id: str = ""
    dur_s: int = 0


@dataclass(frozen=True, slots=True)
class QualityDay:
    """Quality scores of one UTC day, as exact fixed-point sums (`FIXED` per unit).

    Parameters
    ----------
    day, n
        UTC day number and number of scores.
    w, ws, wss
        Sums of weight, weight x score and weight x score squared.
    first_ts_us, first_id
        The day's first score.
    hist
        Weight per score bin of width ``1 / QUALITY_BINS`` (for robust quantiles).
    last_ts_us, last_id
        The day's last score (by time, then id).
    """

    day: int
    n: int
    w: int
    ws: int
    wss: int
    first_ts_us: int
    first_id: str
    hist: tuple[int, ...] = ()
    last_ts_us: int = 0
    last_id: str = ""


@dataclass(frozen=True, slots=True)
class PayoutDay:
    """Payouts of one UTC day: count, the first payout to each wallet, the last payout."""

    day: int
    n: int
    first_ts_us: int
    first_id: str
    wallets: tuple[Seen[str], ...] = ()
    last_ts_us: int = 0
    last_id: str = ""


D = TypeVar("D", TaskDay, QualityDay, PayoutDay)


def _day(d: TaskDay | QualityDay | PayoutDay) -> int:
    return d.day


def put_day(
    window: tuple[D, ...],
    day: int,
    create: Callable[[], D],
    merge: Callable[[D], D],
) -> tuple[D, ...]:
    """Return the window (sorted by day) with an event of `day` folded in.

    Examples
    --------
    >>> from dataclasses import replace
    >>> w: tuple[PayoutDay, ...] = ()
    >>> for d in (5, 3, 9, 3):
    ...     w = put_day(w, d, lambda d=d: PayoutDay(d, 1, 0, "p"),
    ...                 lambda b: replace(b, n=b.n + 1))
    >>> [(b.day, b.n) for b in w]
    [(3, 2), (5, 1), (9, 1)]
    """
    lo = bisect_left(window, day, key=_day)
    out: list[D] = list(window)
    if lo < len(window) and window[lo].day == day:
        out[lo] = merge(window[lo])
    else:
        out.insert(lo, create())
    return tuple(out)


def trim_days(window: tuple[D, ...], floor: int) -> tuple[D, ...]:
    """Return the window without the days before `floor` (the horizon's first day).

    Examples
    --------
    >>> w = tuple(PayoutDay(d, 1, 0, "p") for d in (3, 5, 9))
    >>> [b.day for b in trim_days(w, 5)], trim_days(w, 0) is w
    ([5, 9], True)
    """
    if not window or window[0].day >= floor:
        return window
    return window[bisect_left(window, floor, key=_day) :]


def last_of(a_ts: int, a_id: str, b_ts: int, b_id: str) -> tuple[int, str]:
    """Return the later of two (time, id) pairs."""
    return (a_ts, a_id) if (a_ts, a_id) >= (b_ts, b_id) else (b_ts, b_id)


def first_of(a_ts: int, a_id: str, b_ts: int, b_id: str) -> tuple[int, str]:
    """Return the earlier of two (time, id) pairs."""
    return (a_ts, a_id) if (a_ts, a_id) <= (b_ts, b_id) else (b_ts, b_id)


def fixed(x: float) -> int:
    """Return `x` in fixed point (`FIXED` per unit), rounded to an integer."""
    return round(x * FIXED)
