"""Per-worker drift state: order-free day windows, cached day verdicts and raised episodes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reputation.drift.buckets import PayoutDay, QualityDay, TaskDay

__all__ = ["DriftState", "Episode"]


@dataclass(frozen=True, slots=True)
class Episode:
    """A drift alert the detectors raised: its type, the day it began and its trigger.

    Parameters
    ----------
    type
        The alert type.
    day
        UTC day number of the day whose evidence raised it.
    ts_us, event_id
        The triggering event (the last event of that day in the type's channel,
        or for a wallet change the later of the wallet and device facts).
    resolved_day
        The UTC day of an analyst's resolution, or None while open.
    """

    type: str
    day: int
    ts_us: int
    event_id: str
    resolved_day: int | None = None

    @property
    def key(self) -> tuple[str, int, int, str]:
        """What identifies the episode (its alert id is made from type and event id)."""
        return (self.type, self.day, self.ts_us, self.event_id)


@dataclass(frozen=True, slots=True)
class DriftState:
    """What the drift detectors remember about one worker; ``DriftState()`` for a new one.

    Everything here is a function of the *set* of the worker's events inside the
    horizon (and of the analysts' resolutions), not of their arrival order:
    the day windows are order-free aggregates, `marks` caches each closed day's
    verdict computed from those windows, and `episodes` is the canonical list of
    raised alerts last derived from the marks.

    Size is bounded by the horizon: at most one bucket per channel and day, one
    mark per day, and the episodes of the horizon (plus the last one of each
    type before it).

    Parameters
    ----------
    tasks, quality, payouts
        Day windows of each channel, oldest day first.
    max_day
        The latest UTC day of any event applied (None before the first).
    floors
        Per alert type, the first UTC day number the baseline may use (after an
        analyst's resolution).
    marks
        ``(day, bits)`` per evaluated closed day, oldest first: two bits per
        drift type (see `reputation.drift.model`).
    dirty
        Day ranges ``(first, last)`` whose verdicts must be recomputed at the
        next settle (merged, oldest first; ``last`` may lie far in the future).
    episodes
        The raised episodes, ordered by (type, day).
    ignored
        Events older than the horizon when they arrived (counted, not applied).
    """

    tasks: tuple[TaskDay, ...] = ()
    quality: tuple[QualityDay, ...] = ()
    payouts: tuple[PayoutDay, ...] = ()
    max_day: int | None = None
    floors: Mapping[str, int] = field(default_factory=dict)
    marks: tuple[tuple[int, int], ...] = ()
    dirty: tuple[tuple[int, int], ...] = ()
    episodes: tuple[Episode, ...] = ()
    ignored: int = 0
