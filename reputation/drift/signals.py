"""The weak signals of one closed day, each computed from the order-free day windows.

A drift alert is never one weak signal: a new device is a new laptop, a new
country is a trip, an hour or two of shift is a DST change or a late week.
`DaySignals` gathers, for one UTC day, everything that moved in the latest
``recent_days`` active days against the worker's own baseline (the up to
``window_days`` active days before them); `reputation.drift.model` pools them
into alerts and lists the pooled signals in each alert's evidence.

Hours are compared as *unfamiliar hours*: the share of the recent (day, hour)
cells worked at an hour of the day that the baseline hardly knows (fewer
than ``hours_familiar`` of its days within an hour of it). Unlike a divergence
of two noisy 24-bin profiles, this share stays near 0 for a worker whose
hours merely spread or wobble, and reaches 1 when someone else works the
account at another time of day. It is taken in UTC and in the worker's
*local* time (from each task's ``utc_offset_min``): a traveller's and a DST
change's UTC hours move, their local hours do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reputation.drift.buckets import DAY_US, PayoutDay, QualityDay, Seen, TaskDay
from reputation.drift.context import ContextNovelty, context_novelty
from reputation.drift.hours import hour_counts, js_divergence, smooth_profile
from reputation.drift.quality import QualityStat, quality_stat
from reputation.drift.velocity import VelocityStat, velocity_stat
from reputation.drift.wallet import novel_wallets

if TYPE_CHECKING:
    from reputation.drift.model import DriftModel

__all__ = [
    "DaySignals",
    "QualityVerdict",
    "day_signals",
    "familiar_mask",
    "quality_verdict",
    "unfamiliar_share",
]

_ALL_HOURS = (1 << 24) - 1
#: A baseline with this many networks or countries already (a VPN user, a mobile worker)
#: learns nothing from one more.
_DIVERSE_ASNS, _DIVERSE_COUNTRIES = 5, 3


def familiar_mask(masks: list[int], min_days: float) -> int:
    """Return the 24-bit mask of hours worked (within one hour) on at least `min_days` days.

    Examples
    --------
    >>> bin(familiar_mask([0b100, 0b100], 2))
    '0b1110'
    >>> familiar_mask([0b100], 2)
    0

    A day counts once, however many of the three hours it worked: one day of
    another person's long session does not make its hours familiar.

    >>> familiar_mask([0b111], 2)
    0
    """
    counts = hour_counts(_near(m) for m in masks)
    out = 0
    for h in range(24):
        if counts[h] >= min_days:
            out |= 1 << h
    return out


def _near(mask: int) -> int:
    """Return the hours within one hour of those in `mask` (on the 24-hour circle)."""
    left = ((mask << 1) | (mask >> 23)) & _ALL_HOURS
    right = ((mask >> 1) | ((mask & 1) << 23)) & _ALL_HOURS
    return mask | left | right


def unfamiliar_share(before: list[int], after: list[int], min_frac: float) -> tuple[float, int]:
    """Return (share of the recent hour cells outside the familiar hours, recent cells).

    Examples
    --------
    >>> day, night = 0b111 << 9, 0b111 << 21
    >>> unfamiliar_share([day] * 10, [day, night], 0.1)
    (0.5, 6)
    """
    familiar = familiar_mask(before, max(1.0, min_frac * len(before)))
    strange = _ALL_HOURS & ~familiar
    cells = sum(m.bit_count() for m in after)
    if cells == 0:
        return 0.0, 0
    return sum((m & strange).bit_count() for m in after) / cells, cells


@dataclass(frozen=True, slots=True)
class DaySignals:
    """What moved on one closed task day: recent block against the baseline.

    Parameters
    ----------
    before, after
        The baseline days and the recent block (ending on the day judged).
    hours_utc, hours_local
        Unfamiliar-hour shares in UTC and in local time (None without offsets).
    hours_cells
        Recent (day, hour) cells worked.
    jsd_utc, jsd_local
        Jensen-Shannon divergence (bits) of the smoothed hour profiles, for the evidence.
    novel
        Devices, networks, countries and UTC offsets first seen in the recent block.
    velocity
        Tasks per active day before and after.
    duration_ratio
        Mean working time per task, recent over baseline (None with too few tasks).
    quality
        Quality in the recent block's span against the baseline's (None with too few scores).
    new_wallets
        Wallets first paid (after the worker's first payout days) during or just before the
        recent block.
    """

    before: tuple[TaskDay, ...]
    after: tuple[TaskDay, ...]
    hours_utc: float
    hours_local: float | None
    hours_cells: int
    jsd_utc: float
    jsd_local: float | None
    novel: ContextNovelty
    velocity: VelocityStat | None
    duration_ratio: float | None
    quality: QualityStat | None
    new_wallets: tuple[Seen[str], ...]

    @property
    def network_diverse(self) -> bool:
        """Whether the baseline already shows many networks or countries (VPN, mobile, travel)."""
        asns = {a for d in self.before for a in d.asns}
        countries = {c for d in self.before for c in d.countries}
        return len(asns) >= _DIVERSE_ASNS or len(countries) >= _DIVERSE_COUNTRIES

    @property
    def new_network(self) -> bool:
        """A new network, country or offset that means something: not for a diverse baseline."""
        return self.novel.network and not self.network_diverse

    @property
    def hours(self) -> float:
        """The hours shift of the same person: the smaller of the UTC and local shares."""
        if self.hours_local is None:
            return self.hours_utc
        return min(self.hours_utc, self.hours_local)

    @property
    def jsd_shift_value(self) -> float:
        """The divergence of the hour profiles that counts.

        UTC with a new device, else the smaller of UTC and local: for a worker
        whose hours already span most of the day, where a shifted operator's
        hours are not unfamiliar, only their mix.
        """
        if self.novel.devices or self.jsd_local is None:
            return self.jsd_utc
        return min(self.jsd_utc, self.jsd_local)

    @property
    def hours_shift_value(self) -> float:
        """The hours shift that counts: in UTC with a new device, else `hours`."""
        return self.hours_utc if self.novel.devices else self.hours

    def supports(self, m: DriftModel) -> list[str]:
        """Return the names of the behavioural signals that moved (pooled by the rules)."""
        out: list[str] = []
        if self.hours_cells >= m.hours_min_cells and self.hours_shift_value >= m.support_hours:
            out.append("hours")
        v = self.velocity
        if v is not None and v.tasks_after >= m.velocity_min_tasks:
            if v.ratio >= m.support_velocity:
                out.append("velocity")
        r = self.duration_ratio
        if r is not None and (r >= m.support_duration or r <= 1.0 / m.support_duration):
            out.append("task_duration")
        q = self.quality
        if q is not None and q.delta <= -m.support_quality_delta and q.z <= -m.support_quality_z:
            out.append("quality")
        if self.new_wallets:
            out.append("new_wallet")
        return out


def _local_masks(days: tuple[TaskDay, ...]) -> list[int]:
    return [d.hours_local for d in days if d.hours_local]


def _mean_duration(days: tuple[TaskDay, ...]) -> tuple[float, int]:
    n = sum(d.n for d in days)
    return (sum(d.dur_s for d in days) / n if n else 0.0), n


def day_signals(
    m: DriftModel,
    tasks: tuple[TaskDay, ...],
    i: int,
    quality: tuple[QualityDay, ...],
    payouts: tuple[PayoutDay, ...],
) -> DaySignals | None:
    """Return the signals of task day ``tasks[i]``, or None while the baseline is too short.

    `tasks` are the eligible task days (at or after the type's floor), oldest
    first; `quality` and `payouts` the worker's quality and payout days.
    """
    r, w = m.recent_days, m.window_days
    start = i - r + 1
    if start < m.min_baseline_days:
        return None
    after = tasks[max(0, start) : i + 1]
    before = tasks[max(0, start - w) : start]
    utc, cells = unfamiliar_share(
        [d.hours_utc for d in before], [d.hours_utc for d in after], m.hours_familiar
    )
    la, lb = _local_masks(after), _local_masks(before)
    local: float | None = None
    jsd_local: float | None = None
    k = m.hours_smoothing_h
    if la and len(lb) >= m.min_baseline_days:
        local = unfamiliar_share(lb, la, m.hours_familiar)[0]
        jsd_local = js_divergence(
            smooth_profile(hour_counts(lb), k), smooth_profile(hour_counts(la), k)
        )
    jsd = js_divergence(
        smooth_profile(hour_counts(d.hours_utc for d in before), k),
        smooth_profile(hour_counts(d.hours_utc for d in after), k),
    )
    window = before + after
    novel = context_novelty(window, m.min_baseline_days, len(before))
    mb, nb = _mean_duration(before)
    ma, na = _mean_duration(after)
    duration = ma / mb if mb > 0 and ma > 0 and na >= m.velocity_min_tasks else None
    first_recent, first_base = after[0].day, before[0].day
    q_after = tuple(q for q in quality if first_recent <= q.day <= after[-1].day)
    q_before = tuple(q for q in quality if first_base <= q.day < first_recent)
    qs = None
    if q_after and q_before:
        qs = quality_stat(q_before, q_after, m.quality_sd_floor)
        if qs is not None and (
            qs.n_after < m.quality_min_scores or qs.n_before < m.quality_min_scores
        ):
            qs = None
    lo_us = (first_recent - m.wallet_window_days_int) * DAY_US
    hi_us = (after[-1].day + 1) * DAY_US
    wallets = tuple(
        s for s in novel_wallets(payouts, m.wallet_min_payout_days) if lo_us <= s.ts_us < hi_us
    )
    return DaySignals(
        before, after, utc, local, cells, jsd, jsd_local, novel,
        velocity_stat(before, after), duration, qs, wallets,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class QualityVerdict:
    """The strongest quality decline ending on one quality day, over several recent lengths."""

    before: tuple[QualityDay, ...]
    after: tuple[QualityDay, ...]
    stat: QualityStat


def quality_verdict(m: DriftModel, days: tuple[QualityDay, ...], i: int) -> QualityVerdict | None:
    """Return the most significant decline of the recent block ending at ``days[i]``.

    A change-point search on the cumulative evidence: the recent block is each
    of ``quality_recent_lengths`` active days ending on the day judged, the
    baseline the up to ``quality_window_days`` active days before it, so a
    decline that ramps over weeks is compared with the quality before the ramp
    rather than with its own first half. Returns the split with the lowest z.
    """
    best: QualityVerdict | None = None
    for length in m.quality_recent_lengths:
        start = i - length + 1
        if start < m.min_baseline_days:
            continue
        after = days[start : i + 1]
        before = days[max(0, start - m.quality_window_days) : start]
        stat = quality_stat(before, after, m.quality_sd_floor)
        if stat is None or stat.n_after < m.quality_min_scores:
            continue
        if stat.n_before < 3 * m.quality_min_scores:
            continue
        if best is None or stat.z < best.stat.z:
            best = QualityVerdict(before, after, stat)
    return best
