"""A surge in work volume: tasks per active day, recent days against the baseline.

Daily counts of crowd work are over-dispersed (one to three sessions a day of
a Poisson number of tasks), so the test is a ratio of means with a floor on the
recent volume rather than a Poisson test, which would alarm on every busy week.
"""

from __future__ import annotations

from dataclasses import dataclass

from reputation.drift.buckets import TaskDay

__all__ = ["VelocityStat", "velocity_stat"]


@dataclass(frozen=True, slots=True)
class VelocityStat:
    """Tasks per active day before and after.

    Parameters
    ----------
    per_day_before, per_day_after
        Mean completions per active day in the baseline and recent blocks.
    tasks_after
        Completions in the recent block.
    """

    per_day_before: float
    per_day_after: float
    tasks_after: int

    @property
    def ratio(self) -> float:
        """Recent over baseline rate."""
        return self.per_day_after / self.per_day_before if self.per_day_before > 0 else 0.0


def velocity_stat(before: tuple[TaskDay, ...], after: tuple[TaskDay, ...]) -> VelocityStat | None:
    """Return the rates of the two blocks, or None when either is empty.

    The latest recent day may still be under way, so the recent rate is the
    larger of the rate with and without it: a day just begun does not end an
    episode by pulling the rate down.

    Examples
    --------
    >>> days = [TaskDay(i, n, 1, 1, i, f"t-{i}") for i, n in enumerate([4, 6, 5, 12, 14])]
    >>> s = velocity_stat(tuple(days[:3]), tuple(days[3:]))
    >>> s.per_day_before, s.per_day_after, s.ratio
    (5.0, 13.0, 2.6)
    """
    if not before or not after:
        return None
    n_after = sum(d.n for d in after)
    rate = n_after / len(after)
    if len(after) > 1:  # the latest day may be under way: it may raise the rate, not lower it
        rate = max(rate, (n_after - after[-1].n) / (len(after) - 1))
    return VelocityStat(sum(d.n for d in before) / len(before), rate, n_after)
