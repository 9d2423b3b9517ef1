"""The drift model: pooled weak signals judged per closed day, in event time.

`DriftModel.update` only folds an event into the worker's order-free day
windows. `DriftModel.settle`, once per batch, judges every *closed* day (a day
before the worker's latest event day) whose verdict may have changed, walks
the verdicts day by day into episodes (with hysteresis), and compares the
resulting canonical list of alerts with the one raised before: new episodes
are returned as findings, episodes that no longer hold (a late event changed a
day's evidence) as withdrawals. Everything is a function of the *set* of the
worker's events inside the horizon and of the analysts' resolutions, so the
same events in any order, split over any batches and redelivered any number of
times, end with the same alerts, each with the same ``detected_at``: the event
time of the last event of the day that raised it (for a wallet change, the
later of the wallet and device facts).

Rules (each alert's evidence lists the signals pooled into it):

- ``ACTIVITY_HOURS_SHIFT``: the recent block is worked at hours the baseline
  hardly knows, in UTC *and* local time (``hours_shift``) together with at
  least one other moving signal (a new device or network, more tasks, other
  task durations, lower quality, a new wallet), or near-disjoint hours alone
  (``hours_shift_alone``).
- ``CONTEXT_SHIFT``: a new device together with a new network, country or UTC
  offset, *and* a behavioural signal (hours, velocity, task duration, quality,
  wallet): a new laptop, a trip, a new ISP or a VPN alone stay quiet.
- ``VELOCITY_SURGE``: ``velocity_ratio`` alone, or ``velocity_ratio_new_device``
  with a new device and network or an hours shift.
- ``QUALITY_SHIFT``: a decline of the median score (change-point search over
  several recent lengths, so a ramp over weeks is compared with the quality
  before it).
- ``PAYOUT_WALLET_CHANGE``: the first payout to a new wallet within
  ``wallet_window_days`` of the first task on a new device that came with a new
  network or other hours.

Trade-off: a day is judged once it is closed, so a drift alert comes with the
worker's first event of a later day (the day's evidence is then complete); an
event more than ``horizon_days`` older than the worker's latest event is not
applied to the drift windows (it still counts for the score), and verdicts of
days that fell out of the horizon are final.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from reputation.drift.buckets import (
    DAY_US,
    QUALITY_BINS,
    PayoutDay,
    QualityDay,
    TaskDay,
    day_of,
    first_of,
    fixed,
    last_of,
    merge_seen,
    merge_values,
    micros,
    put_day,
    to_datetime,
    trim_days,
)
from reputation.drift.evidence import (
    context_evidence,
    days_text,
    hours_evidence,
    quality_evidence,
    velocity_evidence,
    wallet_evidence,
)
from reputation.drift.findings import DRIFT_TYPES, Finding, Severity
from reputation.drift.signals import DaySignals, QualityVerdict, day_signals, quality_verdict
from reputation.drift.state import DriftState, Episode
from reputation.drift.wallet import WalletPair, novel_devices, novel_wallets, wallet_pairs
from reputation.errors import ConfigError, ReputationError
from reputation.events import PayoutEvent, QualityEvent, TaskEvent

__all__ = ["DriftModel", "UnknownChannelError"]

HOURS, CONTEXT, QUALITY, VELOCITY, WALLET = DRIFT_TYPES
_HOUR_US = 3_600_000_000
#: A floor below any real day: no rebaseline yet.
MIN_DAY = -(10**9)
#: Day verdicts, two bits per type: condition off, held at the exit level, met, not judged.
OFF, STAY, ENTER, NA = 0, 1, 3, 2
_MARKED = (HOURS, CONTEXT, QUALITY, VELOCITY)
_SHIFT = {t: 2 * i for i, t in enumerate(_MARKED)}
_ALL_NA = sum(NA << s for s in _SHIFT.values())
_MAX_DURATION_S = 86_400
_RECENT_LENGTHS = (5, 7, 10, 14, 21, 28, 42)
#: The end of a day range that reaches every later day.
_FOREVER = 10**9


class UnknownChannelError(ReputationError, ValueError):
    """`DriftModel.update` got a kind other than tasks, quality or payouts, or the wrong event.

    A programming error in the caller: route each topic's events with its own kind.
    """


def _code(enter: bool, stay: bool) -> int:
    return ENTER if enter else STAY if stay else OFF


@dataclass(frozen=True, slots=True)
class _Candidate:
    """An episode start found by the walk, with what is needed to report it."""

    type: str
    day: int
    ts_us: int
    event_id: str
    pair: WalletPair | None = None


@dataclass(frozen=True, slots=True)
class DriftModel:
    """Per-worker behavioural drift detectors over order-free day windows.

    Parameters
    ----------
    horizon_days
        Calendar days of buckets kept behind the worker's latest event (the
        memory bound, and how late an event may come and still count).
    window_days
        Active days of baseline before the recent block.
    recent_days
        Active days of the recent block of the task checks.
    min_baseline_days
        Active days the baseline needs (and that must precede a novel value).
    max_values
        Values of each context kind (devices, networks, ...) kept per day.
    hours_shift, hours_shift_alone, hours_familiar, hours_min_cells, hours_min_baseline_days
        Share of the recent hour cells at unfamiliar hours that is a shift
        together with another signal, and alone; an hour is familiar when the
        baseline worked within an hour of it on at least this fraction of its
        days; the fewest recent (day, hour) cells and baseline days to judge.
        The share is taken in UTC and in local time and the smaller counts (a
        traveller keeps his local hours), except with a new device: someone
        else working from another time zone keeps *his* local hours too.
    hours_jsd
        Jensen-Shannon divergence (bits) of the smoothed hour profiles that is a
        shift together with another signal, for workers whose hours already
        span most of the day (where a shifted operator's hours are familiar,
        only their mix changes). Chosen on calibration seeds 3 and 4: good
        workers' largest value with a supporting signal was 0.35-0.39.
    hours_smoothing_h
        Half-width of the kernel of the hour profiles shown as evidence.
    velocity_ratio, velocity_ratio_new_device, velocity_min_tasks
        Ratio of recent to baseline tasks per active day that is a surge alone,
        the ratio that is one with a new device and network or an hours shift,
        and the fewest recent tasks to judge.
    support_hours, support_velocity, support_duration, support_quality_delta, support_quality_z
        When a behavioural signal counts as moving in a pooled rule: an
        unfamiliar-hour share, a ratio of tasks per day, a ratio (either way)
        of the mean time per task, a decline of the median quality with its z.
    quality_delta, quality_z, quality_day_z, quality_sd_floor, quality_min_scores
        Decline of the median score and |z| of a quality shift, the |z| of the
        same decline seen day by day (scores of one day are not independent),
        the floor of the baseline's robust spread, and the fewest recent scores
        to judge (the baseline needs three times as many).
    quality_window_days, quality_max_recent_days
        Active quality days of baseline, and the longest recent block tried by
        the change-point search (5, 7, 10, 14, 21, ... days up to it).
    wallet_window_days, wallet_min_payout_days
        Greatest gap between a new wallet's first payout and a new device's
        first task, and payout days that must precede a new wallet.
    exit_fraction
        Hysteresis: an episode goes on until its statistic falls below this
        fraction of the threshold.

    Examples
    --------
    >>> from datetime import UTC, timedelta
    >>> from reputation.events import TaskContext, TaskEvent
    >>> m, s = DriftModel(), DriftState()
    >>> t0 = datetime(2026, 9, 1, tzinfo=UTC)
    >>> def task(i, day, hour, device, asn):
    ...     t = t0 + timedelta(days=day, hours=hour)
    ...     return TaskEvent(f"t-{i}", "w", "p", f"k-{i}", "accepted", t, t, None,
    ...                      TaskContext(0, asn, "US", device))
    >>> events = [task(3 * d + k, d, h, "d-1" if d < 20 else "d-2", 7922 if d < 20 else 4134)
    ...           for d in range(25) for k, h in enumerate((9, 10, 11) if d < 20 else (21, 22, 23))]
    >>> for e in events:
    ...     s = m.update(s, "tasks", e)
    >>> s, found, gone = m.settle(s)
    >>> sorted((f.type, f.event_ids[0]) for f in found)
    [('ACTIVITY_HOURS_SHIFT', 't-68'), ('CONTEXT_SHIFT', 't-65')]
    >>> s2 = DriftState()
    >>> for e in reversed(events):
    ...     s2 = m.update(s2, "tasks", e)
    >>> sorted((f.type, f.event_ids[0]) for f in m.settle(s2)[1])
    [('ACTIVITY_HOURS_SHIFT', 't-68'), ('CONTEXT_SHIFT', 't-65')]
    """

    horizon_days: int = 150
    window_days: int = 28
    recent_days: int = 4
    min_baseline_days: int = 5
    max_values: int = 6
    hours_shift: float = 0.6
    hours_shift_alone: float = 0.9
    hours_familiar: float = 0.1
    hours_min_cells: int = 6
    hours_min_baseline_days: int = 10
    hours_jsd: float = 0.5
    hours_smoothing_h: int = 2
    velocity_ratio: float = 5.0
    velocity_ratio_new_device: float = 1.6
    velocity_min_tasks: int = 12
    support_hours: float = 0.35
    support_velocity: float = 1.6
    support_duration: float = 1.6
    support_quality_delta: float = 0.1
    support_quality_z: float = 3.0
    quality_delta: float = 0.1
    quality_z: float = 5.0
    quality_day_z: float = 4.0
    quality_sd_floor: float = 0.07
    quality_min_scores: int = 10
    quality_window_days: int = 42
    quality_max_recent_days: int = 21
    wallet_window_days: float = 7.0
    wallet_min_payout_days: int = 3
    exit_fraction: float = 0.75

    def __post_init__(self) -> None:
        for name in (
            "recent_days", "min_baseline_days", "max_values", "quality_min_scores",
            "velocity_min_tasks", "wallet_min_payout_days", "hours_min_cells",
            "hours_min_baseline_days",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.window_days < self.min_baseline_days:
            raise ConfigError(
                f"window_days must be >= min_baseline_days ({self.min_baseline_days}), "
                f"got {self.window_days}"
            )
        if self.horizon_days < self.window_days + self.recent_days:
            raise ConfigError(
                f"horizon_days must be >= window_days + recent_days "
                f"({self.window_days + self.recent_days}), got {self.horizon_days}"
            )
        if not 0.0 < self.hours_shift <= self.hours_shift_alone <= 1.0:
            raise ConfigError(
                "need 0 < hours_shift <= hours_shift_alone <= 1, got "
                f"{self.hours_shift}, {self.hours_shift_alone}"
            )
        if not 0.0 < self.hours_familiar < 1.0:
            raise ConfigError(f"hours_familiar must be in (0, 1), got {self.hours_familiar}")
        if not 0 <= self.hours_smoothing_h <= 6:
            raise ConfigError(f"hours_smoothing_h must be in 0..6, got {self.hours_smoothing_h}")
        if not 1.0 < self.velocity_ratio_new_device <= self.velocity_ratio:
            raise ConfigError(
                "velocity_ratio_new_device must be in (1, velocity_ratio], got "
                f"{self.velocity_ratio_new_device}"
            )
        for name in (
            "quality_delta", "quality_z", "quality_day_z", "quality_sd_floor", "wallet_window_days",
            "support_hours", "support_quality_delta", "support_quality_z", "hours_jsd",
        ):  # fmt: skip
            if not getattr(self, name) > 0.0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("support_velocity", "support_duration"):
            if not getattr(self, name) > 1.0:
                raise ConfigError(f"{name} must be > 1, got {getattr(self, name)}")
        if self.quality_max_recent_days < 5 or self.quality_window_days < self.min_baseline_days:
            raise ConfigError(
                "quality_max_recent_days must be >= 5 and quality_window_days >= "
                f"min_baseline_days, got {self.quality_max_recent_days}, "
                f"{self.quality_window_days}"
            )
        if not 0.0 < self.exit_fraction <= 1.0:
            raise ConfigError(f"exit_fraction must be in (0, 1], got {self.exit_fraction}")

    @property
    def quality_recent_lengths(self) -> tuple[int, ...]:
        """Recent block lengths tried by the quality change-point search."""
        return tuple(n for n in _RECENT_LENGTHS if n <= self.quality_max_recent_days)

    @property
    def wallet_window_days_int(self) -> int:
        """`wallet_window_days` rounded up to whole days (for day arithmetic)."""
        return -int(-self.wallet_window_days // 1)

    # -- folding ------------------------------------------------------------------------

    def update(
        self, s: DriftState, kind: str, e: TaskEvent | QualityEvent | PayoutEvent
    ) -> DriftState:
        """Fold one new event into the day windows (judging waits for `settle`).

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
            ts = micros(e.completed_at)
        elif kind == "quality" and isinstance(e, QualityEvent):
            ts = micros(e.scored_at)
        elif kind == "payouts" and isinstance(e, PayoutEvent):
            ts = micros(e.paid_at)
        else:
            raise UnknownChannelError(
                f"kind must be tasks, quality or payouts with its event type, got {kind!r} "
                f"with {type(e).__name__}"
            )
        day = day_of(ts)
        if s.max_day is not None and day <= s.max_day - self.horizon_days:
            return replace(s, ignored=s.ignored + 1)
        if isinstance(e, TaskEvent):
            s = replace(s, tasks=self._put_task(s.tasks, e, ts))
        elif isinstance(e, QualityEvent):
            s = replace(s, quality=_put_quality(s.quality, e, ts))
        else:
            s = replace(s, payouts=self._put_payout(s.payouts, e, ts))
        ranges = [*s.dirty, (day, _FOREVER if kind == "payouts" else self._reach(s, day))]
        if s.max_day is None or day > s.max_day:
            if s.max_day is not None:
                ranges.append((s.max_day, s.max_day))  # that day is closed now
            s = self._trim(replace(s, max_day=day))
        return replace(s, dirty=_merge(ranges))

    def _reach(self, s: DriftState, day: int) -> int:
        """Return the last day whose verdict a task or quality change on `day` can move.

        A task day's verdict reads the ``recent_days + window_days`` task days up
        to it (and the quality days of their span), a quality day's the longest
        recent block and its baseline; a new wallet (a payout) can matter to any
        later day, so payouts mark everything after them.
        """
        it = bisect_left(s.tasks, day, key=_day)
        iq = bisect_left(s.quality, day, key=_day)
        ends = [day]
        for window, i, span in (
            (s.tasks, it, self.recent_days + self.window_days),
            (s.quality, iq, max(self.quality_recent_lengths) + self.quality_window_days),
        ):
            j = i + span
            if j >= len(window):
                return _FOREVER
            ends.append(window[j].day)
        return max(ends)

    def _put_task(self, window: tuple[TaskDay, ...], e: TaskEvent, ts: int) -> tuple[TaskDay, ...]:
        cap, ctx = self.max_values, e.context
        bit_utc = 1 << ((ts % DAY_US) // _HOUR_US)
        off = ctx.utc_offset_min if ctx is not None else None
        bit_local = 0 if off is None else 1 << (((ts + off * 60_000_000) % DAY_US) // _HOUR_US)
        dur = int((e.completed_at - e.assigned_at).total_seconds())
        dur = min(max(dur, 0), _MAX_DURATION_S)

        def merge(b: TaskDay) -> TaskDay:
            first_ts, first_id = first_of(b.first_ts_us, b.first_id, ts, e.event_id)
            last_ts, last_id = last_of(b.last_ts_us, b.last_id, ts, e.event_id)
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
                first_ts, first_id, devices, asns, countries, offsets, last_ts, last_id,
                b.dur_s + dur,
            )  # fmt: skip

        day = day_of(ts)
        empty = TaskDay(day, 0, 0, 0, ts, e.event_id, last_ts_us=ts, last_id=e.event_id)
        return put_day(window, day, lambda: merge(empty), merge)

    def _put_payout(
        self, window: tuple[PayoutDay, ...], e: PayoutEvent, ts: int
    ) -> tuple[PayoutDay, ...]:
        def merge(b: PayoutDay) -> PayoutDay:
            first_ts, first_id = first_of(b.first_ts_us, b.first_id, ts, e.event_id)
            last_ts, last_id = last_of(b.last_ts_us, b.last_id, ts, e.event_id)
            wallets = merge_seen(b.wallets, str(e.wallet), ts, e.event_id, self.max_values)
            return PayoutDay(b.day, b.n + 1, first_ts, first_id, wallets, last_ts, last_id)

        day = day_of(ts)
        empty = PayoutDay(day, 0, ts, e.event_id, (), ts, e.event_id)
        return put_day(window, day, lambda: merge(empty), merge)

    def _trim(self, s: DriftState) -> DriftState:
        if s.max_day is None:
            return s
        floor = s.max_day - self.horizon_days + 1
        if s.marks and s.marks[0][0] < floor:
            cut = bisect_left(s.marks, floor, key=lambda m: m[0])
            s = replace(s, marks=s.marks[cut:])
        return replace(
            s,
            tasks=trim_days(s.tasks, floor),
            quality=trim_days(s.quality, floor),
            payouts=trim_days(s.payouts, floor),
        )

    # -- judging ------------------------------------------------------------------------

    def settle(self, s: DriftState) -> tuple[DriftState, tuple[Finding, ...], tuple[Episode, ...]]:
        """Judge the closed days that changed; return (state, new alerts, withdrawn ones).

        Call once per batch, after `update` of its events. The withdrawn
        episodes are alerts raised before whose evidence no longer holds (a
        late event changed the day that raised them); their alert should be
        closed as ``withdrawn``.
        """
        if not s.dirty or s.max_day is None:
            return s, (), ()
        s = self._remark(s, s.dirty)
        return self._reconcile(replace(s, dirty=()))

    def _remark(self, s: DriftState, ranges: tuple[tuple[int, int], ...]) -> DriftState:
        closed = s.max_day if s.max_day is not None else ranges[0][0]

        def wanted(day: int) -> bool:
            return day < closed and any(lo <= day <= hi for lo, hi in ranges)

        days = sorted(
            {d.day for d in s.tasks if wanted(d.day)} | {d.day for d in s.quality if wanted(d.day)}
        )
        keep = tuple(m for m in s.marks if not any(lo <= m[0] <= hi for lo, hi in ranges))
        if not days:
            return replace(s, marks=keep)
        task_index = {d.day: i for i, d in enumerate(s.tasks)}
        quality_index = {d.day: i for i, d in enumerate(s.quality)}
        new: list[tuple[int, int]] = []
        cache: dict[int, tuple[tuple[TaskDay, ...], dict[int, int]]] = {}
        for day in days:
            bits = _ALL_NA
            if day in task_index:
                signals: dict[int, DaySignals | None | bool] = {}
                for t in (HOURS, CONTEXT, VELOCITY):
                    floor = s.floors.get(t, MIN_DAY)
                    if floor not in signals:
                        signals[floor] = self._task_signals(s, t, day, cache)
                    sig = signals[floor]
                    code = NA if isinstance(sig, bool) else self._judge(t, sig)
                    bits = _set(bits, t, code)
            if day in quality_index:
                v = self._quality_verdict(s, day)
                code = NA if isinstance(v, bool) else self._judge_quality(v)
                bits = _set(bits, QUALITY, code)
            new.append((day, bits))
        return replace(s, marks=tuple(sorted(keep + tuple(new))))

    def _eligible_tasks(
        self, s: DriftState, t: str, cache: dict[int, tuple[tuple[TaskDay, ...], dict[int, int]]]
    ) -> tuple[tuple[TaskDay, ...], dict[int, int]]:
        floor = s.floors.get(t, MIN_DAY)
        hit = cache.get(floor)
        if hit is None:
            eligible = tuple(d for d in s.tasks if d.day >= floor)
            hit = (eligible, {d.day: i for i, d in enumerate(eligible)})
            cache[floor] = hit
        return hit

    def _task_signals(
        self,
        s: DriftState,
        t: str,
        day: int,
        cache: dict[int, tuple[tuple[TaskDay, ...], dict[int, int]]],
    ) -> DaySignals | None | bool:
        eligible, index = self._eligible_tasks(s, t, cache)
        i = index.get(day)
        if i is None:
            return False
        return day_signals(self, eligible, i, s.quality, self._eligible_payouts(s))

    def _eligible_payouts(self, s: DriftState) -> tuple[PayoutDay, ...]:
        floor = s.floors.get(WALLET, MIN_DAY)
        return s.payouts if floor == MIN_DAY else tuple(d for d in s.payouts if d.day >= floor)

    def _quality_verdict(self, s: DriftState, day: int) -> QualityVerdict | None | bool:
        floor = s.floors.get(QUALITY, MIN_DAY)
        eligible = tuple(d for d in s.quality if d.day >= floor)
        i = next((k for k, d in enumerate(eligible) if d.day == day), None)
        if i is None:
            return False
        return quality_verdict(self, eligible, i)

    def _pooled(self, t: str, sig: DaySignals) -> list[str]:
        """Return the signals besides the type's own that moved (what a rule pools).

        A new network alone is no support for an hours shift or a surge: VPN and
        mobile users change networks all the time.
        """
        own = {HOURS: "hours", VELOCITY: "velocity"}.get(t)
        out = [x for x in sig.supports(self) if x != own]
        if t != CONTEXT and sig.novel.devices:
            out.append("new_device")
        return out

    def _judge(self, t: str, sig: DaySignals | None) -> int:
        if sig is None:
            return OFF
        f = self.exit_fraction
        if t == HOURS:
            if (
                sig.hours_cells < self.hours_min_cells
                or len(sig.before) < self.hours_min_baseline_days
            ):
                return OFF
            h, j = sig.hours_shift_value, sig.jsd_shift_value
            pooled = bool(self._pooled(HOURS, sig))
            enter = h >= self.hours_shift_alone or (
                pooled and (h >= self.hours_shift or j >= self.hours_jsd)
            )
            return _code(enter, h >= f * self.hours_shift or j >= f * self.hours_jsd)
        novel = sig.novel
        if t == CONTEXT:
            shifted = bool(novel.devices) and sig.new_network
            return _code(shifted and bool(sig.supports(self)), shifted)
        v = sig.velocity
        if v is None or v.tasks_after < self.velocity_min_tasks:
            return OFF
        excess = v.ratio - 1.0
        corroborated = (bool(novel.devices) and sig.new_network) or (
            sig.hours_cells >= self.hours_min_cells
            and len(sig.before) >= self.hours_min_baseline_days
            and sig.hours_shift_value >= self.hours_shift
        )
        enter = excess >= self.velocity_ratio - 1.0 or (
            corroborated and excess >= self.velocity_ratio_new_device - 1.0
        )
        return _code(enter, excess >= f * (self.velocity_ratio_new_device - 1.0))

    def _judge_quality(self, v: QualityVerdict | None) -> int:
        if v is None:
            return OFF
        f, st, zd = self.exit_fraction, v.stat, self.quality_day_z
        enter = st.delta <= -self.quality_delta and st.z <= -self.quality_z and st.z_days <= -zd
        stay = (
            st.delta <= -f * self.quality_delta
            and st.z <= -f * self.quality_z
            and st.z_days <= -f * zd
        )
        return _code(enter, stay)

    # -- episodes -----------------------------------------------------------------------

    def _starts(self, s: DriftState, t: str) -> Iterator[int]:
        """Yield the days on which an episode of type `t` begins (verdicts walked in order)."""
        shift, inside = _SHIFT[t], False
        for day, bits in s.marks:
            code = (bits >> shift) & 3
            if code == NA:
                continue
            if code == ENTER and not inside:
                yield day
                inside = True
            elif code == OFF:
                inside = False

    def _candidates(self, s: DriftState) -> list[_Candidate]:
        out: list[_Candidate] = []
        tasks = {d.day: d for d in s.tasks}
        quality = {d.day: d for d in s.quality}
        for t in _MARKED:
            src: dict[int, TaskDay] | dict[int, QualityDay] = quality if t == QUALITY else tasks
            for day in self._starts(s, t):
                b = src.get(day)
                if b is not None:
                    out.append(_Candidate(t, day, b.last_ts_us, b.last_id))
        floor = s.floors.get(WALLET, MIN_DAY)
        wallets = novel_wallets(self._eligible_payouts(s), self.wallet_min_payout_days)
        devices = novel_devices(tuple(d for d in s.tasks if d.day >= floor), self.min_baseline_days)
        window_us = int(self.wallet_window_days * DAY_US)
        eligible = tuple(d for d in s.tasks if d.day >= floor)
        index = {d.day: i for i, d in enumerate(eligible)}
        for p in wallet_pairs(wallets, devices, window_us):
            later = p.later
            day = day_of(later.ts_us)
            if s.max_day is None or day >= s.max_day:  # the same closed-day rule
                continue
            # A new laptop and a new wallet in one week happen to honest people too:
            # the device must come with a new network or other hours.
            i = index.get(day_of(p.device.ts_us))
            sig = None if i is None else day_signals(self, eligible, i, s.quality, s.payouts)
            if sig is None or not (
                sig.new_network
                or (
                    sig.hours_cells >= self.hours_min_cells
                    and sig.hours_shift_value >= self.support_hours
                )
            ):
                continue
            out.append(_Candidate(WALLET, day, later.ts_us, later.event_id, p))
        out.sort(key=lambda c: (c.type, c.day, c.ts_us, c.event_id))
        return out

    def _reconcile(
        self, s: DriftState
    ) -> tuple[DriftState, tuple[Finding, ...], tuple[Episode, ...]]:
        horizon_floor = MIN_DAY if s.max_day is None else s.max_day - self.horizon_days + 1
        first_mark = s.marks[0][0] if s.marks else horizon_floor
        # Final: episodes of days that left the horizon, and those an analyst resolved.
        kept = [
            e
            for e in s.episodes
            if e.day < max(horizon_floor, first_mark) or e.resolved_day is not None
        ]
        kept_keys = {e.key for e in kept}
        by_type: dict[str, list[Episode]] = {}
        for e in kept:
            by_type.setdefault(e.type, []).append(e)
        raised: list[tuple[_Candidate, Episode]] = []
        for c in self._candidates(s):
            key = (c.type, c.day, c.ts_us, c.event_id)
            if key in kept_keys:
                continue
            prior = [e for e in by_type.get(c.type, []) if e.day <= c.day]
            if prior:
                last = max(prior, key=lambda e: (e.day, e.ts_us))
                if last.resolved_day is None or last.resolved_day >= c.day:
                    continue  # once per episode: the earlier alert is still open
            ep = Episode(c.type, c.day, c.ts_us, c.event_id)
            by_type.setdefault(c.type, []).append(ep)
            raised.append((c, ep))
        canonical = {ep.key for _, ep in raised} | kept_keys
        before = {e.key: e for e in s.episodes}
        withdrawn = tuple(e for k, e in before.items() if k not in canonical)
        new = [(c, ep) for c, ep in raised if ep.key not in before]
        episodes = tuple(
            sorted(
                [*kept, *(before.get(ep.key, ep) for _, ep in raised)],
                key=lambda e: (e.type, e.day, e.ts_us, e.event_id),
            )
        )
        s = replace(s, episodes=episodes)
        findings = tuple(self._finding(s, c) for c, _ in new)
        return s, findings, withdrawn

    # -- findings and evidence ----------------------------------------------------------

    def _finding(self, s: DriftState, c: _Candidate) -> Finding:
        at = to_datetime(c.ts_us)
        if c.type == WALLET and c.pair is not None:
            p = c.pair
            known = sorted({w.value for d in s.payouts for w in d.wallets} - {p.wallet.value})
            ev = wallet_evidence(p, known, self.wallet_window_days)
            ev["pooled"] = ["new_wallet", "new_device", "new_network_or_hours"]
            return Finding(WALLET, "high", at, (p.later.event_id, p.earlier.event_id), ev)
        if c.type == QUALITY:
            v = self._quality_verdict(s, c.day)
            if isinstance(v, QualityVerdict):
                ev = quality_evidence(v.before, v.after, v.stat, self.quality_delta, self.quality_z)
                ev["pooled"] = ["quality"]
                ev["rule"] = "median quality declined (change-point over the recent lengths)"
                sev: Severity = "high" if v.stat.delta <= -2 * self.quality_delta else "medium"
                ids = (c.event_id, *[d.first_id for d in v.after if d.first_id != c.event_id][:4])
                return Finding(QUALITY, sev, at, ids, ev)
            return Finding(QUALITY, "medium", at, (c.event_id,), {"pooled": ["quality"]})
        sig = self._task_signals(s, c.type, c.day, {})
        if not isinstance(sig, DaySignals):
            return Finding(c.type, "medium", at, (c.event_id,), {"pooled": []})
        pooled = self._pooled(c.type, sig)
        ids = (c.event_id, *[d.first_id for d in sig.after if d.first_id != c.event_id][:4])
        signals = _signals_json(sig)
        if c.type == HOURS:
            alone = sig.hours_shift_value >= self.hours_shift_alone
            by_mix = not alone and sig.hours_shift_value < self.hours_shift
            ev = hours_evidence(
                sig.before, sig.after, sig.jsd_utc, sig.jsd_local or 0.0,
                self.hours_shift_alone if alone else self.hours_shift, sig.novel,
            )  # fmt: skip
            ev.update(
                statistic="unfamiliar_hour_share",
                value=round(sig.hours_shift_value, 4),
                rule="hours shift alone"
                if alone
                else "hour mix shift with another signal"
                if by_mix
                else "hours shift with another signal",
                jsd_shift=round(sig.jsd_shift_value, 4),
            )
            sev = "high" if sig.novel.devices or sig.hours_shift_value >= 0.8 else "medium"
            return Finding(HOURS, sev, at, ids, {**ev, "pooled": ["hours", *pooled], **signals})
        if c.type == CONTEXT:
            ev = context_evidence(sig.before, sig.after, sig.novel, sig.jsd_utc)
            ev["rule"] = "new device and network with a behavioural change"
            dev_ids = tuple(d.event_id for d in sig.novel.devices if d.event_id != c.event_id)
            sev = "high" if sig.novel.place else "medium"
            pooled_c = ["new_device", "new_network", *pooled]
            return Finding(
                CONTEXT, sev, at, (c.event_id, *dev_ids)[:5], {**ev, "pooled": pooled_c, **signals}
            )
        vel = sig.velocity
        vel_ev: dict[str, object] = {}
        sev = "medium"
        if vel is not None:
            corroborated = vel.ratio < self.velocity_ratio
            thr = self.velocity_ratio_new_device if corroborated else self.velocity_ratio
            vel_ev = velocity_evidence(sig.before, sig.after, vel, thr, corroborated)
            vel_ev["rule"] = (
                "surge with a context or hours shift" if corroborated else "surge alone"
            )
            sev = "high" if vel.ratio >= 2 * self.velocity_ratio else "medium"
        return Finding(
            VELOCITY, sev, at, ids, {**vel_ev, "pooled": ["velocity", *pooled], **signals}
        )

    # -- analysts -----------------------------------------------------------------------

    def rebaseline(self, s: DriftState, alert_type: str, at: datetime) -> DriftState:
        """Make behaviour up to `at` the new normal for one alert type (an analyst resolved it).

        The open episode of the type is marked resolved on the day of `at`, and
        the type's baseline restarts at the first of the recent days as of `at`
        (for a wallet change: after `at`), so the persisting condition does not
        re-raise; the detector warms up again on the new normal and a later,
        new change can raise it.

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
        else:
            window: tuple[TaskDay, ...] | tuple[QualityDay, ...] = (
                s.quality if alert_type == QUALITY else s.tasks
            )
            upto = [d.day for d in window if old <= d.day <= day_at]
            floor = upto[-self.recent_days] if len(upto) >= self.recent_days else day_at
            if upto and len(upto) < self.recent_days:
                floor = upto[0]
        floors = dict(s.floors)
        floors[alert_type] = max(old, floor)
        episodes = tuple(
            replace(e, resolved_day=day_at)
            if e.type == alert_type and e.resolved_day is None and e.day <= day_at
            else e
            for e in s.episodes
        )
        dirty = _merge([*s.dirty, (floors[alert_type], _FOREVER)])
        return replace(s, floors=floors, episodes=episodes, dirty=dirty)


def _day(d: TaskDay | QualityDay) -> int:
    return d.day


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Return day ranges merged where they overlap or touch, oldest first."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _set(bits: int, t: str, code: int) -> int:
    shift = _SHIFT[t]
    return (bits & ~(3 << shift)) | (code << shift)


def _signals_json(sig: DaySignals) -> dict[str, object]:
    v, q = sig.velocity, sig.quality
    return {
        "signals": {
            "unfamiliar_hours_utc": round(sig.hours_utc, 4),
            "unfamiliar_hours_local": None
            if sig.hours_local is None
            else round(sig.hours_local, 4),
            "recent_hour_cells": sig.hours_cells,
            "new_devices": [d.value for d in sig.novel.devices],
            "new_asns": list(sig.novel.asns),
            "new_countries": list(sig.novel.countries),
            "new_utc_offsets_min": list(sig.novel.offsets),
            "tasks_per_day_ratio": None if v is None else round(v.ratio, 4),
            "task_duration_ratio": None
            if sig.duration_ratio is None
            else round(sig.duration_ratio, 4),
            "quality_median_delta": None if q is None else round(q.delta, 4),
            "quality_z": None if q is None else round(q.z, 4),
            "new_wallets": [w.value for w in sig.new_wallets],
        },
        "baseline_days": days_text(sig.before),
        "recent_days": days_text(sig.after),
    }


def _put_quality(
    window: tuple[QualityDay, ...], e: QualityEvent, ts: int
) -> tuple[QualityDay, ...]:
    w = fixed(e.weight)
    ws, wss = fixed(e.weight * e.score), fixed(e.weight * e.score * e.score)
    k = min(QUALITY_BINS - 1, int(e.score * QUALITY_BINS))

    def merge(b: QualityDay) -> QualityDay:
        first_ts, first_id = first_of(b.first_ts_us, b.first_id, ts, e.event_id)
        last_ts, last_id = last_of(b.last_ts_us, b.last_id, ts, e.event_id)
        hist = list(b.hist)
        hist[k] += w
        return QualityDay(
            b.day, b.n + 1, b.w + w, b.ws + ws, b.wss + wss, first_ts, first_id, tuple(hist),
            last_ts, last_id,
        )  # fmt: skip

    day = day_of(ts)
    empty = QualityDay(day, 0, 0, 0, 0, ts, e.event_id, (0,) * QUALITY_BINS, ts, e.event_id)
    return put_day(window, day, lambda: merge(empty), merge)
