"""Hour-of-day profiles on a 24-hour circle and their Jensen-Shannon divergence.

People work in bursts, so a histogram over the last N *events* flags nearly
every worker; here each hour counts once per active day (a bit in a day's
mask), the profile is smoothed with a triangular kernel that wraps around
midnight, and two profiles are compared with the Jensen-Shannon divergence in
bits (0 = same, 1 = disjoint).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["circular_peak", "hour_counts", "js_divergence", "smooth_profile"]


def hour_counts(masks: Iterable[int]) -> list[int]:
    """Return, per hour, the number of days whose 24-bit mask has that hour.

    Examples
    --------
    >>> hour_counts([0b101, 0b100])[:4]
    [1, 0, 2, 0]
    """
    counts = [0] * 24
    for mask in masks:
        while mask:
            low = mask & -mask
            counts[low.bit_length() - 1] += 1
            mask ^= low
    return counts


def smooth_profile(counts: list[int], width: int) -> list[float]:
    """Return the counts smoothed over the circle and normalised to sum to 1.

    The kernel is triangular with weights ``width + 1 - |k|`` for ``|k| <= width``
    hours; with no counts at all the profile is uniform.

    Examples
    --------
    >>> p = smooth_profile([0] * 23 + [4], 1)
    >>> [round(x, 2) for x in (p[22], p[23], p[0], p[1])]
    [0.25, 0.5, 0.25, 0.0]
    """
    kernel = [(k, float(width + 1 - abs(k))) for k in range(-width, width + 1)]
    out = [0.0] * 24
    for h, c in enumerate(counts):
        if c:
            for k, w in kernel:
                out[(h + k) % 24] += c * w
    total = sum(out)
    if total <= 0.0:
        return [1.0 / 24] * 24
    return [x / total for x in out]


def js_divergence(p: list[float], q: list[float]) -> float:
    """Return the Jensen-Shannon divergence of two distributions, in bits (0..1).

    Examples
    --------
    >>> js_divergence([0.5, 0.5], [0.5, 0.5])
    0.0
    >>> js_divergence([1.0, 0.0], [0.0, 1.0])
    1.0

    References
    ----------
    J. Lin (1991). Divergence measures based on the Shannon entropy. IEEE Trans.
    Information Theory 37(1), 145-151.
    """
    total = 0.0
    for a, b in zip(p, q, strict=True):
        m = 0.5 * (a + b)
        if a > 0.0:
            total += 0.5 * a * math.log2(a / m)
        if b > 0.0:
            total += 0.5 * b * math.log2(b / m)
    return min(1.0, max(0.0, total))


def circular_peak(counts: list[int]) -> float | None:
    """Return the circular mean hour (0..24) of a profile, or None when it has no direction.

    Examples
    --------
    >>> circular_peak([0] * 23 + [1]) == 23.0, circular_peak([1] * 24)
    (True, None)
    """
    x = sum(c * math.cos(2 * math.pi * h / 24) for h, c in enumerate(counts))
    y = sum(c * math.sin(2 * math.pi * h / 24) for h, c in enumerate(counts))
    if math.hypot(x, y) < 1e-9 * max(1, sum(counts)):
        return None
    return round((math.degrees(math.atan2(y, x)) / 15.0) % 24.0, 2)
