"""Event times: integer Unix seconds inside the simulator, RFC 3339 UTC strings outside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

DAY_S = 86_400
HOUR_S = 3_600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")


_CLOCK: list[str] = []


def _clock() -> list[str]:
    if not _CLOCK:
        _CLOCK.extend(
            f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)
        )
    return _CLOCK


def format_time(ts: int) -> str:
    """Return Unix seconds as an RFC 3339 UTC string with a ``Z`` suffix.

    Formatting goes through a per-day cache and a table of the 86,400 clock
    times because the simulator formats hundreds of thousands of times per run.

    Examples
    --------
    >>> format_time(1_793_526_000)
    '2026-11-01T09:40:00Z'
    """
    day, rem = divmod(ts, DAY_S)
    return _day_prefix(day) + (_CLOCK or _clock())[rem]


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time with ``Z`` or an offset into a tz-aware UTC datetime.

    Examples
    --------
    >>> parse_time("2026-11-01T10:40:00+01:00").isoformat()
    '2026-11-01T09:40:00+00:00'
    >>> parse_time("2026-11-01T09:40:00")
    Traceback (most recent call last):
    ...
    ValueError: time must carry a UTC offset or Z, got '2026-11-01T09:40:00'
    """
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time must carry a UTC offset or Z, got {text!r}")
    return value.astimezone(UTC)


def to_ts(text: str) -> int:
    """Return an RFC 3339 time as integer Unix seconds.

    Examples
    --------
    >>> to_ts("2026-11-01T09:40:00Z")
    1793526000
    """
    return int(parse_time(text).timestamp())
