"""A shift in the typical quality score: recent days against the worker's own baseline.

Scores are kept per day as exact fixed-point sums and a weighted histogram, so
nothing depends on the order in which scores arrive. A rejected task scores
about 0.35 below the rest, and a few rejections in a short recent block move a
mean a lot; the test therefore compares *medians* (from the histograms), scaled
by a robust spread (interquartile range / 1.349, floored), with a minimum
effect size. The means are reported as evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reputation.drift.buckets import QUALITY_BINS, QualityDay

__all__ = ["QualityStat", "quality_stat", "weighted_quantile"]


@dataclass(frozen=True, slots=True)
class QualityStat:
    """Baseline and recent quality scores.

    Parameters
    ----------
    median_before, spread_before, mean_before, n_before
        Baseline weighted median, robust spread, weighted mean and number of scores.
    median_after, mean_after, n_after
        The same for the recent block.
    z
        ``(median_after - median_before) / (1.253 * spread * sqrt(1/n_after + 1/n_before))``.
    z_days
        The same change seen day by day: the difference of the mean daily means
        over the baseline's day-to-day spread, ``sqrt(1/days_after + 1/days_before)``
        scaled. Scores of one day share that day's conditions (task mix,
        reviewer, fatigue), so they are not independent; this z does not grow
        with the number of scores of a bad day.
    """

    median_before: float
    spread_before: float
    mean_before: float
    n_before: int
    median_after: float
    mean_after: float
    n_after: int
    z: float
    z_days: float = 0.0

    @property
    def delta(self) -> float:
        """Recent minus baseline median."""
        return self.median_after - self.median_before


def weighted_quantile(hist: list[int], q: float) -> float:
    """Return the `q` quantile of a histogram over [0, 1], interpolating inside a bin.

    Examples
    --------
    >>> round(weighted_quantile([0] * 20 + [1, 1, 0, 0, 0], 0.5), 3)
    0.84
    """
    total = sum(hist)
    target = q * total
    acc = 0
    for i, h in enumerate(hist):
        if h and acc + h >= target:
            return (i + (target - acc) / h) / len(hist)
        acc += h
    return 1.0


def _block(days: tuple[QualityDay, ...]) -> tuple[list[int], float, int]:
    hists = [d.hist for d in days if d.hist]
    hist = [sum(col) for col in zip(*hists, strict=True)] if hists else [0] * QUALITY_BINS
    w = sum(d.w for d in days)
    mean = sum(d.ws for d in days) / w if w > 0 else 0.0
    return hist, mean, sum(d.n for d in days)


def quality_stat(
    before: tuple[QualityDay, ...], after: tuple[QualityDay, ...], sd_floor: float
) -> QualityStat | None:
    """Return the baseline/recent comparison, or None when either side has no score.

    Examples
    --------
    >>> def day(d, n, score):
    ...     hist = [0] * QUALITY_BINS
    ...     hist[int(score * QUALITY_BINS)] = n
    ...     return QualityDay(d, n, n, round(n * score), 0, d, f"q-{d}", tuple(hist))
    >>> s = quality_stat(tuple(day(i, 5, 0.9) for i in range(6)), (day(6, 5, 0.7),), 0.05)
    >>> round(s.delta, 3), round(s.z, 1)
    (-0.2, -6.6)
    """
    hb, mb, nb = _block(before)
    ha, ma, na = _block(after)
    if nb == 0 or na == 0 or sum(hb) == 0 or sum(ha) == 0:
        return None
    med_b, med_a = weighted_quantile(hb, 0.5), weighted_quantile(ha, 0.5)
    spread = (weighted_quantile(hb, 0.75) - weighted_quantile(hb, 0.25)) / 1.349
    sd = max(spread, sd_floor)
    z = (med_a - med_b) / (1.253 * sd * math.sqrt(1.0 / na + 1.0 / nb))
    return QualityStat(med_b, spread, mb, nb, med_a, ma, na, z, _z_days(before, after, sd_floor))


def _z_days(before: tuple[QualityDay, ...], after: tuple[QualityDay, ...], floor: float) -> float:
    mb = [d.ws / d.w for d in before if d.w > 0]
    ma = [d.ws / d.w for d in after if d.w > 0]
    if len(mb) < 2 or not ma:
        return 0.0
    mean_b = sum(mb) / len(mb)
    sd = math.sqrt(sum((x - mean_b) ** 2 for x in mb) / (len(mb) - 1))
    sd = max(sd, floor / 2)
    return (sum(ma) / len(ma) - mean_b) / (sd * math.sqrt(1.0 / len(ma) + 1.0 / len(mb)))
