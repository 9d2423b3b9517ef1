"""The drift model: hyperparameters, the per-event update and the analyst's rebaseline.

Each channel decides only from its own events in their arrival order (which
Kafka keeps per worker and topic, and replay reproduces): tasks raise
``ACTIVITY_HOURS_SHIFT``, ``CONTEXT_SHIFT`` and ``VELOCITY_SURGE``, quality
raises ``QUALITY_SHIFT``. ``PAYOUT_WALLET_CHANGE`` pairs a payouts fact with a
tasks fact in event time (see `reputation.drift.wallet`). Every statistic
compares the latest ``recent_days`` active days of a channel with the older
days of its window (the baseline), so warm-up is ``min_baseline_days +
recent_days`` active days.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from reputation.drift.buckets import (
    DAY_US,
    QUALITY_BINS,
    PayoutDay,
    QualityDay,
    Seen,
    TaskDay,
    day_of,
    first_of,
    fixed,
    merge_seen,
    merge_values,
    micros,
    put_day,
    to_datetime,
)
from reputation.drift.checks import MIN_DAY, check_hours_context, check_velocity, flip, trigger_ids
from reputation.drift.evidence import (
    quality_evidence,
    wallet_evidence,
)
from reputation.drift.findings import DRIFT_TYPES, Finding, Severity
from reputation.drift.quality import quality_stat
from reputation.drift.state import DriftState
from reputation.drift.wallet import novel_devices, novel_wallets, wallet_pairs
from reputation.errors import ConfigError, ReputationError
from reputation.events import PayoutEvent, QualityEvent, TaskEvent

__all__ = ["DriftModel", "UnknownChannelError"]

HOURS, CONTEXT, QUALITY, VELOCITY, WALLET = DRIFT_TYPES
_HOUR_US = 3_600_000_000


class UnknownChannelError(ReputationError, ValueError):
    """`DriftModel.update` got a kind other than tasks, quality or payouts, or the wrong event.

    A programming error in the caller: route each topic's events with its own kind.
    """


@dataclass(frozen=True, slots=True)
class DriftModel:
    """Per-worker behavioural drift detectors over order-free day windows.

    Parameters
    ----------
    window_days
        Active days kept per channel (the memory bound).
    recent_days
        Latest active days compared with the rest of the window.
    min_baseline_days
        Active days the baseline needs (and that must precede a novel value).
    max_values
        Values of each context kind (devices, networks, ...) kept per day.
    hours_threshold, hours_threshold_alone, hours_smoothing_h
        Jensen-Shannon divergence (bits) between the baseline and recent UTC
        hour profiles that counts as a shift when a novel device came with it,
        the divergence that counts without one (it must then hold for the
        *local* hours too: a traveller's UTC hours move with the time zone, his
        local hours and phone do not), and the half-width in hours of the
        circular triangular kernel.
    velocity_ratio, velocity_ratio_new_device, velocity_min_tasks
        Ratio of recent to baseline tasks per active day that is a surge, the
        lower ratio that suffices together with a context shift (a novel device
        with a novel network, country or offset), and the fewest recent tasks
        to judge.
    quality_delta, quality_z, quality_sd_floor, quality_min_scores
        Smallest change of the median score, smallest |z|, the floor of the
        baseline's robust spread, and the fewest recent scores to judge (the
        baseline needs three times as many).
    wallet_window_days, wallet_min_payout_days
        Greatest gap between a novel wallet's first payout and a novel device's
        first task, and payout days that must precede a novel wallet.
    max_facts
        Novel devices and wallets remembered for pairing.
    exit_fraction
        Hysteresis: a condition that is true stays true until its statistic
        falls below this fraction of the threshold (for ratios, of the excess
        over 1), so a day just begun does not end and restart an episode.

    Examples
    --------
    >>> from datetime import UTC, timedelta
    >>> from reputation.events import TaskContext, TaskEvent
    >>> m, s = DriftModel(), DriftState()
    >>> t0 = datetime(2026, 9, 1, tzinfo=UTC)
    >>> def task(i, day, hour, device):
    ...     t = t0 + timedelta(days=day, hours=hour)
    ...     return TaskEvent(f"t-{i}", "w", "p", f"k-{i}", "accepted", t, t, None,
    ...                      TaskContext(0, 7922 if day < 20 else 4134, "US", device))
    >>> found = []
    >>> for day in range(25):
    ...     for k, hour in enumerate((9, 10)):
    ...         s, f = m.update(s, "tasks", task(2 * day + k, day, hour + 12 * (day >= 20),
    ...                                         "d-1" if day < 20 else "d-2"))
    ...         found += [(x.type, x.event_ids[0]) for x in f]
    >>> found
    [('CONTEXT_SHIFT', 't-40'), ('ACTIVITY_HOURS_SHIFT', 't-46')]
    """

    window_days: int = 28
    recent_days: int = 4
    min_baseline_days: int = 5
    max_values: int = 6
    hours_threshold: float = 0.55
    hours_threshold_alone: float = 0.75
    hours_smoothing_h: int = 2
    velocity_ratio: float = 5.0
    velocity_ratio_new_device: float = 1.6
    velocity_min_tasks: int = 12
    quality_delta: float = 0.08
    quality_z: float = 4.5
    quality_sd_floor: float = 0.07
    quality_min_scores: int = 10
    wallet_window_days: float = 7.0
    wallet_min_payout_days: int = 3
    max_facts: int = 4
    exit_fraction: float = 0.75

    def __post_init__(self) -> None:
        for name in ("recent_days", "min_baseline_days", "max_values", "max_facts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.window_days < self.recent_days + self.min_baseline_days:
            raise ConfigError(
                f"window_days must be >= recent_days + min_baseline_days "
                f"({self.recent_days + self.min_baseline_days}), got {self.window_days}"
            )
        if not 0.0 < self.hours_threshold <= 1.0:
            raise ConfigError(f"hours_threshold must be in (0, 1], got {self.hours_threshold}")
        if not self.hours_threshold <= self.hours_threshold_alone <= 1.0:
            raise ConfigError(
                "hours_threshold_alone must be in [hours_threshold, 1], got "
                f"{self.hours_threshold_alone}"
            )
        if not 0 <= self.hours_smoothing_h <= 6:
            raise ConfigError(f"hours_smoothing_h must be in 0..6, got {self.hours_smoothing_h}")
        if not 1.0 < self.velocity_ratio_new_device <= self.velocity_ratio:
            raise ConfigError(
                "velocity_ratio_new_device must be in (1, velocity_ratio], got "
                f"{self.velocity_ratio_new_device}"
            )
        if self.quality_min_scores < 1:
            raise ConfigError(f"quality_min_scores must be >= 1, got {self.quality_min_scores}")
        if self.velocity_min_tasks < 1:
            raise ConfigError(f"velocity_min_tasks must be >= 1, got {self.velocity_min_tasks}")
        for name in ("quality_delta", "quality_z", "quality_sd_floor", "wallet_window_days"):
            if not getattr(self, name) > 0.0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.exit_fraction <= 1.0:
            raise ConfigError(f"exit_fraction must be in (0, 1], got {self.exit_fraction}")
        if self.wallet_min_payout_days < 1:
            raise ConfigError(
                f"wallet_min_payout_days must be >= 1, got {self.wallet_min_payout_days}"
            )

    # -- public API ---------------------------------------------------------------------

    def update(
        self, s: DriftState, kind: str, e: TaskEvent | QualityEvent | PayoutEvent
    ) -> tuple[DriftState, tuple[Finding, ...]]:
        """Fold one new event in; return the state and the findings that became true with it.

        Parameters
        ----------
        s
            The worker's state (``DriftState()`` for a new worker).
        kind
            ``tasks``, ``quality`` or ``payouts``: the event's channel.
        e
            A validated event of that channel, not seen before (the caller drops
            redeliveries; a redelivery would count twice in the day buckets).
        """
        if kind == "tasks" and isinstance(e, TaskEvent):
            return self._tasks(s, e)
        if kind == "quality" and isinstance(e, QualityEvent):
            return self._quality(s, e)
        if kind == "payouts" and isinstance(e, PayoutEvent):
            return self._payouts(s, e)
        raise UnknownChannelError(
            f"kind must be tasks, quality or payouts with its event type, got {kind!r} with "
            f"{type(e).__name__}"
        )

    def rebaseline(self, s: DriftState, alert_type: str, at: datetime) -> DriftState:
        """Make behaviour up to `at` the new normal for one alert type.

        The baseline of the type restarts at the first of the recent days as of
        `at` (for a wallet change: after `at`), so the same persisting condition
        does not re-raise; the detector warms up again on the new normal and a
        later, new change can raise it.

        Examples
        --------
        >>> from datetime import UTC
        >>> s = DriftModel().rebaseline(DriftState(), "QUALITY_SHIFT",
        ...                             datetime(2026, 9, 1, tzinfo=UTC))
        >>> s.floors["QUALITY_SHIFT"]
        20697
        """
        if alert_type not in DRIFT_TYPES:
            raise ConfigError(f"alert_type must be one of {DRIFT_TYPES}, got {alert_type!r}")
        at_us = micros(at)
        day_at = day_of(at_us)
        old = s.floors.get(alert_type, MIN_DAY)
        if alert_type == WALLET:
            floor = day_at + 1
            keep = [f for f in s.wallet_facts if f.ts_us > at_us]
            s = replace(
                s,
                wallet_facts=tuple(keep),
                device_facts=tuple(f for f in s.device_facts if f.ts_us > at_us),
            )
        else:
            window = s.quality if alert_type == QUALITY else s.tasks
            upto = [d.day for d in window if old <= d.day <= day_at]
            floor = upto[-self.recent_days] if len(upto) >= self.recent_days else day_at
            if upto and len(upto) < self.recent_days:
                floor = upto[0]
        floors = dict(s.floors)
        floors[alert_type] = max(old, floor)
        return replace(s, floors=floors, active=s.active - {alert_type})

    # -- channels -----------------------------------------------------------------------

    def _tasks(self, s: DriftState, e: TaskEvent) -> tuple[DriftState, tuple[Finding, ...]]:
        ts = micros(e.completed_at)
        day, cap = day_of(ts), self.max_values
        ctx = e.context
        bit_utc = 1 << ((ts % DAY_US) // _HOUR_US)
        off = ctx.utc_offset_min if ctx is not None else None
        bit_local = 0 if off is None else 1 << (((ts + off * 60_000_000) % DAY_US) // _HOUR_US)

        def merge(b: TaskDay) -> TaskDay:
            first_ts, first_id = first_of(b.first_ts_us, b.first_id, ts, e.event_id)
            devices, asns, countries, offsets = b.devices, b.asns, b.countries, b.offsets
            if ctx is not None:
                if ctx.device_id is not None:
                    devices = merge_seen(devices, ctx.device_id, ts, e.event_id, cap)
                if ctx.ip_asn is not None:
                    asns = merge_values(asns, ctx.ip_asn, cap)
                if ctx.country is not None:
                    countries = merge_values(countries, ctx.country, cap)
                if off is not None:
                    offsets = merge_values(offsets, off, cap)
            return TaskDay(
                b.day, b.n + 1, b.hours_utc | bit_utc, b.hours_local | bit_local,
                first_ts, first_id, devices, asns, countries, offsets,
            )  # fmt: skip

        empty = TaskDay(day, 0, 0, 0, ts, e.event_id)
        window = put_day(s.tasks, day, self.window_days, lambda: merge(empty), merge)
        if window is s.tasks:
            return s, ()
        old = next((b for b in s.tasks if b.day == day), None)
        new = next(b for b in window if b.day == day)
        shape = old is None or (
            (old.hours_utc, old.hours_local, old.asns, old.countries, old.offsets)
            != (new.hours_utc, new.hours_local, new.asns, new.countries, new.offsets)
            or [d.value for d in old.devices] != [d.value for d in new.devices]
        )
        s = replace(s, tasks=window)
        found: list[Finding] = []
        active = set(s.active)
        if shape:
            check_hours_context(self, s, e, active, found)
            s, pairs = self._record_devices(s)
            found += pairs
        check_velocity(self, s, e, active, found)
        return replace(s, active=frozenset(active)), tuple(found)

    def _quality(self, s: DriftState, e: QualityEvent) -> tuple[DriftState, tuple[Finding, ...]]:
        ts = micros(e.scored_at)
        day = day_of(ts)
        w = fixed(e.weight)
        ws, wss = fixed(e.weight * e.score), fixed(e.weight * e.score * e.score)

        k = min(QUALITY_BINS - 1, int(e.score * QUALITY_BINS))

        def merge(b: QualityDay) -> QualityDay:
            first_ts, first_id = first_of(b.first_ts_us, b.first_id, ts, e.event_id)
            hist = list(b.hist)
            hist[k] += w
            return QualityDay(
                b.day, b.n + 1, b.w + w, b.ws + ws, b.wss + wss, first_ts, first_id, tuple(hist)
            )

        empty = QualityDay(day, 0, 0, 0, 0, ts, e.event_id, (0,) * QUALITY_BINS)
        window = put_day(s.quality, day, self.window_days, lambda: merge(empty), merge)
        if window is s.quality:
            return s, ()
        s = replace(s, quality=window)
        floor = s.floors.get(QUALITY, MIN_DAY)
        eligible = tuple(d for d in window if d.day >= floor)
        before, after = eligible[: -self.recent_days], eligible[-self.recent_days :]
        stat = None
        if len(before) >= self.min_baseline_days:
            stat = quality_stat(before, after, self.quality_sd_floor)
        f = self.exit_fraction if QUALITY in s.active else 1.0
        now = (
            stat is not None
            and stat.n_after >= self.quality_min_scores
            and stat.n_before >= 3 * self.quality_min_scores
            and abs(stat.delta) >= f * self.quality_delta
            and abs(stat.z) >= f * self.quality_z
        )
        found: tuple[Finding, ...] = ()
        if now and stat is not None and QUALITY not in s.active:
            sev: Severity = "high" if abs(stat.delta) >= 2 * self.quality_delta else "medium"
            ev = quality_evidence(before, after, stat, self.quality_delta, self.quality_z)
            found = (Finding(QUALITY, sev, e.scored_at, trigger_ids(e.event_id, after), ev),)
        active = set(s.active)
        flip(active, QUALITY, now)
        return replace(s, active=frozenset(active)), found

    def _payouts(self, s: DriftState, e: PayoutEvent) -> tuple[DriftState, tuple[Finding, ...]]:
        ts = micros(e.paid_at)
        day, cap = day_of(ts), self.max_values

        def merge(b: PayoutDay) -> PayoutDay:
            first_ts, first_id = first_of(b.first_ts_us, b.first_id, ts, e.event_id)
            wallets = merge_seen(b.wallets, str(e.wallet), ts, e.event_id, cap)
            return PayoutDay(b.day, b.n + 1, first_ts, first_id, wallets)

        empty = PayoutDay(day, 0, ts, e.event_id)
        window = put_day(s.payouts, day, self.window_days, lambda: merge(empty), merge)
        if window is s.payouts:
            return s, ()
        s = replace(s, payouts=window)
        floor = s.floors.get(WALLET, MIN_DAY)
        eligible = tuple(d for d in window if d.day >= floor)
        facts = novel_wallets(eligible, self.wallet_min_payout_days)
        known = {f.value for f in s.wallet_facts}
        fresh = [f for f in facts if f.value not in known]
        if not fresh:
            return s, ()
        merged = tuple(sorted((*s.wallet_facts, *fresh), key=lambda f: (f.ts_us, f.event_id)))
        s = replace(s, wallet_facts=merged[-self.max_facts :])
        return self._pair(s, fresh, list(s.device_facts))

    def _record_devices(self, s: DriftState) -> tuple[DriftState, list[Finding]]:
        floor = s.floors.get(WALLET, MIN_DAY)
        eligible = tuple(d for d in s.tasks if d.day >= floor)
        known = {f.value for f in s.device_facts}
        fresh = [f for f in novel_devices(eligible, self.min_baseline_days) if f.value not in known]
        if not fresh:
            return s, []
        merged = tuple(sorted((*s.device_facts, *fresh), key=lambda f: (f.ts_us, f.event_id)))
        s = replace(s, device_facts=merged[-self.max_facts :])
        s, found = self._pair(s, list(s.wallet_facts), fresh)
        return s, list(found)

    def _pair(
        self, s: DriftState, wallets: list[Seen[str]], devices: list[Seen[str]]
    ) -> tuple[DriftState, tuple[Finding, ...]]:
        window_us = int(self.wallet_window_days * DAY_US)
        pairs = [p for p in wallet_pairs(wallets, devices, window_us) if p.key not in s.paired]
        if not pairs:
            return s, ()
        known = sorted(
            {w.value for d in s.payouts for w in d.wallets} - {p.wallet.value for p in pairs}
        )
        found = tuple(
            Finding(
                WALLET,
                "high",
                to_datetime(p.later.ts_us),
                (p.later.event_id, p.earlier.event_id),
                wallet_evidence(p, known, self.wallet_window_days),
            )
            for p in pairs
        )
        paired = (*s.paired, *[p.key for p in pairs])[-2 * self.max_facts :]
        return replace(s, paired=paired), found
