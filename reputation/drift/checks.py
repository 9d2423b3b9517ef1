"""The task-channel checks: hours shift, context shift and velocity surge.

Each check reads the worker's task window (with its type's baseline floor),
decides whether its condition holds now, and appends a `Finding` when the
condition becomes true (it was not in `active`); `active` is updated in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reputation.drift.buckets import QualityDay, TaskDay
from reputation.drift.context import ContextNovelty, context_novelty
from reputation.drift.evidence import context_evidence, hours_evidence, velocity_evidence
from reputation.drift.findings import DRIFT_TYPES, Finding, Severity
from reputation.drift.hours import hour_counts, js_divergence, smooth_profile
from reputation.drift.state import DriftState
from reputation.drift.velocity import velocity_stat
from reputation.events import TaskEvent

if TYPE_CHECKING:
    from reputation.drift.model import DriftModel

__all__ = [
    "MIN_DAY",
    "check_hours_context",
    "check_velocity",
    "flip",
    "hours_jsd",
    "local_jsd",
    "novel_block",
    "split_window",
    "trigger_ids",
]

HOURS, CONTEXT, QUALITY, VELOCITY, WALLET = DRIFT_TYPES
#: A floor below any real day: no rebaseline yet.
MIN_DAY = -(10**9)


def split_window(
    window: tuple[TaskDay, ...], floor: int, recent: int
) -> tuple[tuple[TaskDay, ...], ...]:
    """Return (eligible days at or after `floor`, baseline, recent block of `recent` days)."""
    eligible = tuple(d for d in window if d.day >= floor) if floor > MIN_DAY else window
    return eligible, eligible[:-recent], eligible[-recent:]


def trigger_ids(
    trigger: str, days: tuple[TaskDay, ...] | tuple[QualityDay, ...], n: int = 4
) -> tuple[str, ...]:
    """Return the triggering event id, then the first events of up to `n` other days."""
    return (trigger, *[d.first_id for d in days if d.first_id != trigger][:n])


def flip(active: set[str], alert_type: str, now: bool) -> None:
    """Record in `active` whether the condition of `alert_type` holds now."""
    if now:
        active.add(alert_type)
    else:
        active.discard(alert_type)


def hours_jsd(m: DriftModel, before: tuple[TaskDay, ...], after: tuple[TaskDay, ...]) -> float:
    """Return the divergence of the smoothed UTC hour profiles of two blocks."""
    w = m.hours_smoothing_h
    return js_divergence(
        smooth_profile(hour_counts(d.hours_utc for d in before), w),
        smooth_profile(hour_counts(d.hours_utc for d in after), w),
    )


def local_jsd(m: DriftModel, before: tuple[TaskDay, ...], after: tuple[TaskDay, ...]) -> float:
    """Return the divergence of the smoothed local hour profiles of two blocks."""
    w = m.hours_smoothing_h
    return js_divergence(
        smooth_profile(hour_counts(d.hours_local for d in before), w),
        smooth_profile(hour_counts(d.hours_local for d in after), w),
    )


def novel_block(m: DriftModel, eligible: tuple[TaskDay, ...]) -> ContextNovelty:
    """Return the context values first seen in the recent block (after the baseline)."""
    since = len(eligible) - m.recent_days
    return context_novelty(eligible, m.min_baseline_days, since)


def check_hours_context(
    m: DriftModel, s: DriftState, e: TaskEvent, active: set[str], found: list[Finding]
) -> None:
    """Check ``ACTIVITY_HOURS_SHIFT`` and ``CONTEXT_SHIFT`` after a task changed the window."""
    t, r, b = e.completed_at, m.recent_days, m.min_baseline_days
    # ACTIVITY_HOURS_SHIFT
    eligible, before, after = split_window(s.tasks, s.floors.get(HOURS, MIN_DAY), r)
    hours_now, jsd = False, None
    f = m.exit_fraction if HOURS in active else 1.0
    thr, alone = f * m.hours_threshold, f * m.hours_threshold_alone
    if len(before) >= b:
        jsd = hours_jsd(m, before, after)
        if jsd >= thr:
            novel = novel_block(m, eligible)
            local = local_jsd(m, before, after)
            hours_now = bool(novel.devices) or (jsd >= alone and local >= alone)
            if hours_now and HOURS not in active:
                sev: Severity = "high" if jsd >= 0.6 or novel.devices else "medium"
                used = m.hours_threshold if novel.devices else m.hours_threshold_alone
                ev = hours_evidence(before, after, jsd, local, used, novel)
                found.append(Finding(HOURS, sev, t, trigger_ids(e.event_id, after), ev))
    flip(active, HOURS, hours_now)
    # CONTEXT_SHIFT
    eligible, before, after = split_window(s.tasks, s.floors.get(CONTEXT, MIN_DAY), r)
    novel = novel_block(m, eligible)
    context_now = False
    if novel.devices:
        if novel.network:
            context_now = True
        elif len(before) >= b:
            jsd = hours_jsd(m, before, after) if jsd is None else jsd
            context_now = jsd >= m.hours_threshold
    if context_now and CONTEXT not in active:
        sev = "high" if novel.place else "medium"
        ev = context_evidence(before, after, novel, jsd)
        ids = (e.event_id, *[d.event_id for d in novel.devices if d.event_id != e.event_id])
        found.append(Finding(CONTEXT, sev, t, ids[:5], ev))
    flip(active, CONTEXT, context_now)


def check_velocity(
    m: DriftModel, s: DriftState, e: TaskEvent, active: set[str], found: list[Finding]
) -> None:
    """Check ``VELOCITY_SURGE`` after a task."""
    eligible, before, after = split_window(s.tasks, s.floors.get(VELOCITY, MIN_DAY), m.recent_days)
    now = False
    stat = velocity_stat(before, after) if len(before) >= m.min_baseline_days else None
    corroborated = False
    f = m.exit_fraction if VELOCITY in active else 1.0
    if stat is not None and stat.tasks_after >= m.velocity_min_tasks:
        if stat.ratio - 1.0 >= f * (m.velocity_ratio - 1.0):
            now = True
        elif stat.ratio - 1.0 >= f * (m.velocity_ratio_new_device - 1.0):
            novel = novel_block(m, eligible)
            corroborated = bool(novel.devices) and novel.network
            now = corroborated
    if now and stat is not None and VELOCITY not in active:
        sev: Severity = "high" if stat.ratio >= 2 * m.velocity_ratio else "medium"
        thr = m.velocity_ratio_new_device if corroborated else m.velocity_ratio
        ev = velocity_evidence(before, after, stat, thr, corroborated)
        found.append(Finding(VELOCITY, sev, e.completed_at, trigger_ids(e.event_id, after), ev))
    flip(active, VELOCITY, now)
