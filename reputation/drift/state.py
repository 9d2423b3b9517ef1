"""Per-worker drift state: order-free day windows plus a little episode bookkeeping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reputation.drift.buckets import PayoutDay, QualityDay, Seen, TaskDay

__all__ = ["DriftState"]


@dataclass(frozen=True, slots=True)
class DriftState:
    """What the drift detectors remember about one worker; ``DriftState()`` for a new one.

    The day windows (`tasks`, `quality`, `payouts`) are order-free aggregates:
    the same set of events in any order gives equal windows. The remaining
    fields are episode bookkeeping, a function of each channel's own events in
    arrival order (and of analyst rebaselines): which conditions were true at
    the channel's last event, so that a finding is reported when its condition
    *becomes* true; per alert type, the first day of the baseline after a
    rebaseline; the novel devices and wallets of the last few changes, and the
    (wallet, device) pairs already reported.

    Size is bounded: at most ``window_days`` buckets per channel, ``max_values``
    values of each kind per bucket, ``max_facts`` facts per kind and
    ``2 * max_facts`` pairs (about 10-20 KB as JSON with the defaults).

    Parameters
    ----------
    tasks, quality, payouts
        Day windows of each channel, oldest day first.
    active
        Alert types whose condition was true at the last evaluation.
    floors
        Per alert type, the first UTC day number the baseline may use.
    device_facts, wallet_facts
        First task on each recently novel device, first payout to each recently
        novel wallet; the latest `max_facts` of each, oldest first.
    paired
        (wallet, device) pairs already reported, oldest first.
    """

    tasks: tuple[TaskDay, ...] = ()
    quality: tuple[QualityDay, ...] = ()
    payouts: tuple[PayoutDay, ...] = ()
    active: frozenset[str] = frozenset()
    floors: Mapping[str, int] = field(default_factory=dict)
    device_facts: tuple[Seen[str], ...] = ()
    wallet_facts: tuple[Seen[str], ...] = ()
    paired: tuple[tuple[str, str], ...] = ()
