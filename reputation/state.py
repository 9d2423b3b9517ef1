"""Per-worker evidence state and the order-free, idempotent update.

All decayed sums are kept relative to ``t_ref``, the latest event time seen for
the worker. An event at time ``t`` adds ``w * 2 ** (-(t_ref - t) / h)``; an event
later than ``t_ref`` first rescales every sum to its own time. The final value is
``sum(w_i * 2 ** (-(t_max - t_i) / h))`` whatever the arrival order, so a late
event adds exactly what it would have added on time. The ids of the events
applied within an event-time horizon are remembered (`reputation.idwindow`), so
a redelivered event changes nothing; an event older than the horizon cannot be
checked and is refused (``TOO_LATE``), never applied twice.

Memory is bounded whatever the length of the history: the id window (at most
`DedupConfig.max_ids` fingerprints of 5 bytes), at most `MAX_PAYERS` payers,
`MAX_WALLETS` wallets and `MAX_DEVICES` devices, the drift detectors' day
windows and the identity state's own caps (its distinct values are not
capped: they grow with the values claimed, not with events).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from reputation.drift import DriftModel, DriftState, Episode, Finding
from reputation.events import PayoutEvent, QualityEvent, TaskEvent, WorkerEvent
from reputation.identity import (
    AttributeClaim,
    AttributeSeen,
    DeviceFact,
    IdentityEvent,
    IdentityState,
    Verdict,
    add_identity,
)
from reputation.idwindow import DEFAULT_DEDUP, DedupConfig, IdWindow, WindowBuilder
from reputation.model import OUTCOME_CREDIT, TrustModel, payout_weight

__all__ = [
    "MAX_DEVICES",
    "MAX_PAYERS",
    "MAX_PAYER_WEIGHTS",
    "MAX_WALLETS",
    "Folded",
    "Pair",
    "WorkerState",
    "apply_event",
    "apply_events",
    "event_key",
    "fold_events",
    "set_alert",
]

#: Devices remembered per worker (the earliest seen), for shared-device checks.
MAX_DEVICES = 16
#: Distinct payers counted per worker (the smallest ids: order free). Only their
#: number up to `TrustModel.min_payers` bears on the band, so the count saturates.
MAX_PAYERS = 16
#: Payers whose decayed payout weight is kept (the heaviest): effective payers and
#: volume are computed over these; a dropped payer paying again starts from zero.
MAX_PAYER_WEIGHTS = 16
#: Wallets remembered per worker (the most paid to, then by address).
MAX_WALLETS = 16

Pair = tuple[float, float]  # (short half-life, long half-life)
_ZERO: Pair = (0.0, 0.0)
_OUTCOME_INDEX = {"accepted": 0, "rejected": 1, "late": 2, "abandoned": 3}


def event_key(kind: str, event_id: str) -> int:
    """Return the 63-bit identity of an event of a kind (``tasks``, ``quality``, ...).

    Examples
    --------
    >>> event_key("tasks", "t-1") == event_key("tasks", "t-1") != event_key("quality", "t-1")
    True
    """
    digest = hashlib.blake2b(f"{kind}\x00{event_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True, slots=True)
class WorkerState:
    """Everything Vigil knows about one worker; the caller stores it.

    Times are seconds since the Unix epoch (event time). ``q_total`` is the
    undecayed (weighted score sum, weight) of every quality score, the record the
    score's estimate rests on (see `TrustModel`); the decayed pairs say how much of
    it is recent. ``open_alerts`` maps the
    id of every open alert on the worker to its type (`flags` are those types; they
    bear on the band); ``devices`` holds the first time each device was seen (the
    `MAX_DEVICES` earliest). ``payers``, ``payer_weight`` and ``wallets`` are
    capped (`MAX_PAYERS`, `MAX_PAYER_WEIGHTS`, `MAX_WALLETS`); ``ids`` is the
    window of applied event ids (`reputation.idwindow`).
    """

    worker_id: str
    t_ref: float | None = None
    first_seen: float | None = None
    last_seen: float | None = None
    outcomes: tuple[int, int, int, int] = (0, 0, 0, 0)
    n_quality: int = 0
    n_payouts: int = 0
    credit: Pair = _ZERO
    attempts: Pair = _ZERO
    q_sum: Pair = _ZERO
    q_weight: Pair = _ZERO
    q_total: Pair = _ZERO
    payer_weight: Mapping[str, float] = field(default_factory=dict)
    payers: frozenset[str] = frozenset()
    paid: Mapping[str, Decimal] = field(default_factory=dict)
    wallets: Mapping[str, int] = field(default_factory=dict)
    ids: IdWindow = field(default_factory=IdWindow)
    open_alerts: Mapping[str, str] = field(default_factory=dict)
    devices: Mapping[str, float] = field(default_factory=dict)
    drift: DriftState = field(default_factory=DriftState)
    identity: IdentityState = field(default_factory=IdentityState)

    @property
    def n_tasks(self) -> int:
        """Number of task completions applied."""
        return sum(self.outcomes)

    @property
    def flags(self) -> frozenset[str]:
        """The types of the open alerts."""
        return frozenset(self.open_alerts.values())


class _Builder:
    """Mutable working copy of a `WorkerState` while one batch is folded in."""

    __slots__ = (
        "worker_id",
        "t_ref",
        "first_seen",
        "last_seen",
        "outcomes",
        "n_quality",
        "n_payouts",
        "credit",
        "attempts",
        "q_sum",
        "q_weight",
        "q_total",
        "payer_weight",
        "payers",
        "paid",
        "wallets",
        "ids",
        "late",
        "open_alerts",
        "devices",
        "new_devices",
        "drift",
        "identity",
        "new_values",
        "seen",
    )

    def __init__(self, s: WorkerState, dedup: DedupConfig = DEFAULT_DEDUP) -> None:
        self.worker_id = s.worker_id
        self.t_ref = s.t_ref
        self.first_seen, self.last_seen = s.first_seen, s.last_seen
        self.outcomes = list(s.outcomes)
        self.n_quality, self.n_payouts = s.n_quality, s.n_payouts
        self.credit, self.attempts = list(s.credit), list(s.attempts)
        self.q_sum, self.q_weight = list(s.q_sum), list(s.q_weight)
        self.q_total = list(s.q_total)
        self.payer_weight = dict(s.payer_weight)
        self.payers = set(s.payers)
        self.paid = dict(s.paid)
        self.wallets = dict(s.wallets)
        self.ids = WindowBuilder(s.ids, dedup)
        #: (index in the batch, horizon then) of each event refused as too late.
        self.late: list[tuple[int, float]] = []
        self.open_alerts = s.open_alerts
        self.devices = dict(s.devices)
        self.new_devices: list[tuple[str, float, str]] = []
        self.drift = s.drift
        self.identity = s.identity
        self.new_values: list[AttributeSeen] = []
        self.seen = 0

    def freeze(self) -> WorkerState:
        o = self.outcomes
        return WorkerState(
            worker_id=self.worker_id,
            t_ref=self.t_ref,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            outcomes=(o[0], o[1], o[2], o[3]),
            n_quality=self.n_quality,
            n_payouts=self.n_payouts,
            credit=(self.credit[0], self.credit[1]),
            attempts=(self.attempts[0], self.attempts[1]),
            q_sum=(self.q_sum[0], self.q_sum[1]),
            q_weight=(self.q_weight[0], self.q_weight[1]),
            q_total=(self.q_total[0], self.q_total[1]),
            payer_weight=self.payer_weight,
            payers=frozenset(self.payers),
            paid=self.paid,
            wallets=self.wallets,
            ids=self.ids.freeze(),
            open_alerts=self.open_alerts,
            devices=self.devices,
            drift=self.drift,
            identity=self.identity,
        )

    def rescale(self, t: float, h_short: float, h_long: float) -> None:
        """Move the reference time of every decayed sum forward to `t` (if later)."""
        if self.t_ref is None:
            self.t_ref = t
            return
        dt = t - self.t_ref
        if dt <= 0:
            return
        f0, f1 = 2.0 ** (-dt / h_short), 2.0 ** (-dt / h_long)
        for pair in (self.credit, self.attempts, self.q_sum, self.q_weight):
            pair[0] *= f0
            pair[1] *= f1
        for p in self.payer_weight:
            self.payer_weight[p] *= f0
        self.t_ref = t

    def add(
        self,
        model: TrustModel,
        kind: str,
        e: WorkerEvent | IdentityEvent,
        drift: DriftModel | None = None,
    ) -> bool:
        """Fold one event in; False if it was applied before or is too late to check.

        An event older than the id window's horizon is not applied (its index
        and the horizon go to `late`). Identity events go to the identity
        state only: they are evidence about who the worker is, not work, so
        they move neither the score's sums nor tenure, and the drift detectors
        do not see them.
        """
        t = e.time.timestamp()
        verdict = self.ids.add(event_key(kind, e.event_id), t)
        if verdict != "new":
            if verdict == "too_late":
                horizon = self.ids.horizon
                self.late.append((self.seen, -math.inf if horizon is None else horizon))
            self.seen += 1
            return False
        self.seen += 1
        if isinstance(e, AttributeClaim | DeviceFact | Verdict):
            self.identity, seen = add_identity(self.identity, e)
            if seen is not None:
                self.new_values.append(seen)
            return True
        if drift is not None:
            self.drift = drift.update(self.drift, kind, e)
        h_short, h_long = model.half_lives_s
        self.rescale(t, h_short, h_long)
        t_ref = t if self.t_ref is None else self.t_ref
        d0, d1 = 2.0 ** (-(t_ref - t) / h_short), 2.0 ** (-(t_ref - t) / h_long)
        self.first_seen = t if self.first_seen is None else min(self.first_seen, t)
        self.last_seen = t if self.last_seen is None else max(self.last_seen, t)
        if isinstance(e, TaskEvent):
            self.outcomes[_OUTCOME_INDEX[e.outcome]] += 1
            credit = OUTCOME_CREDIT[e.outcome]
            self.credit[0] += credit * d0
            self.credit[1] += credit * d1
            self.attempts[0] += d0
            self.attempts[1] += d1
            self._add_payer(e.payer_id)
            if e.context is not None and e.context.device_id is not None:
                self._see_device(e.context.device_id, t, e.event_id)
        elif isinstance(e, QualityEvent):
            self.n_quality += 1
            self.q_sum[0] += e.weight * e.score * d0
            self.q_sum[1] += e.weight * e.score * d1
            self.q_weight[0] += e.weight * d0
            self.q_weight[1] += e.weight * d1
            self.q_total[0] += e.weight * e.score
            self.q_total[1] += e.weight
        else:
            self._add_payout(e, d0)
        return True

    def _see_device(self, device: str, t: float, event_id: str) -> None:
        first = self.devices.get(device)
        if first is not None and first <= t:
            return
        self.devices[device] = t
        if len(self.devices) > MAX_DEVICES:  # keep the earliest: the same whatever the order
            for old in sorted(self.devices, key=lambda d: (self.devices[d], d))[MAX_DEVICES:]:
                del self.devices[old]
        if device in self.devices:
            self.new_devices.append((device, t, event_id))

    def _add_payer(self, payer: str) -> None:
        payers = self.payers
        if payer in payers:
            return
        payers.add(payer)
        if len(payers) > MAX_PAYERS:
            payers.remove(max(payers))

    def _add_payout(self, e: PayoutEvent, d0: float) -> None:
        self.n_payouts += 1
        weights = self.payer_weight
        weights[e.payer_id] = weights.get(e.payer_id, 0.0) + payout_weight(e.amount) * d0
        if len(weights) > MAX_PAYER_WEIGHTS:
            del weights[min(weights, key=lambda p: (weights[p], p))]
        self._add_payer(e.payer_id)
        self.paid[e.asset] = self.paid.get(e.asset, Decimal(0)) + e.amount
        wallets = self.wallets
        wallets[e.wallet] = wallets.get(e.wallet, 0) + 1
        if len(wallets) > MAX_WALLETS:
            del wallets[min(wallets, key=lambda w: (wallets[w], w))]


def apply_events(
    model: TrustModel,
    s: WorkerState,
    items: Iterable[tuple[str, WorkerEvent | IdentityEvent]],
    dedup: DedupConfig = DEFAULT_DEDUP,
) -> tuple[WorkerState, list[bool]]:
    """Fold a batch of one worker's events into `s`; also say which were new.

    Equal to calling `apply_event` for each item in turn, at the cost of one copy
    of the state per batch instead of one per event.

    Examples
    --------
    >>> from reputation.events import parse_quality
    >>> q = parse_quality({"event_id": "q-1", "worker_id": "w", "task_id": "k",
    ...                    "scorer_id": "a", "score": 0.5, "scored_at": "2026-11-01T10:00:00Z"})
    >>> s, new = apply_events(TrustModel(), WorkerState("w"), [("quality", q), ("quality", q)])
    >>> new, s.n_quality
    ([True, False], 1)
    """
    folded = fold_events(model, s, items, dedup=dedup)
    return folded.state, folded.new


@dataclass(frozen=True, slots=True)
class Folded:
    """What folding a batch of a worker's events did.

    ``new`` says per item whether it was applied (False: seen before);
    ``devices`` lists the devices seen for the first time, as
    ``(device_id, first_seen, event_id)``; ``findings`` the drift alerts newly
    raised, ``withdrawn`` the ones raised before whose evidence no longer holds
    (a late event changed the day that raised them); ``values`` the hashed
    identity values new to the worker; ``late`` the items refused because
    their event time is older than the id window's horizon, as ``(index,
    horizon)`` (they are not applied: ``new`` is False for them).
    """

    state: WorkerState
    new: list[bool]
    devices: tuple[tuple[str, float, str], ...] = ()
    findings: tuple[Finding, ...] = ()
    withdrawn: tuple[Episode, ...] = ()
    values: tuple[AttributeSeen, ...] = ()
    late: tuple[tuple[int, float], ...] = ()


def fold_events(
    model: TrustModel,
    s: WorkerState,
    items: Iterable[tuple[str, WorkerEvent | IdentityEvent]],
    drift: DriftModel | None = None,
    dedup: DedupConfig = DEFAULT_DEDUP,
) -> Folded:
    """Fold a batch of one worker's events into `s` (see `apply_events`), saying what changed.

    With a `drift` model, each new event also goes into the drift windows, and
    the closed days that changed are judged once for the whole batch.
    `dedup` sets the id window (horizon and cap) of a worker's applied events.
    """
    builder = _Builder(s, dedup)
    new = [builder.add(model, kind, e, drift) for kind, e in items]
    if not any(new):
        return Folded(s, new, late=tuple(builder.late))
    findings: tuple[Finding, ...] = ()
    withdrawn: tuple[Episode, ...] = ()
    if drift is not None:
        builder.drift, findings, withdrawn = drift.settle(builder.drift)
    state = builder.freeze()
    seen = tuple(x for x in builder.new_devices if state.devices.get(x[0]) == x[1])
    values = state.identity.values
    fresh = tuple(
        v for v in builder.new_values if values.get((v.attribute, v.hashes[0])) is not None
    )
    return Folded(state, new, seen, findings, withdrawn, fresh, tuple(builder.late))


def set_alert(s: WorkerState, alert_id: str, alert_type: str, is_open: bool) -> WorkerState:
    """Return `s` with an alert opened or closed on it (idempotent).

    Examples
    --------
    >>> s = set_alert(WorkerState("w"), "a1", "SHARED_WALLET", True)
    >>> s.flags, set_alert(s, "a1", "SHARED_WALLET", True) is s
    (frozenset({'SHARED_WALLET'}), True)
    >>> set_alert(s, "a1", "SHARED_WALLET", False).flags
    frozenset()
    """
    if (alert_id in s.open_alerts) == is_open:
        return s
    alerts = dict(s.open_alerts)
    if is_open:
        alerts[alert_id] = alert_type
    else:
        del alerts[alert_id]
    return replace(s, open_alerts=alerts)


def apply_event(
    model: TrustModel,
    s: WorkerState,
    kind: str,
    e: WorkerEvent | IdentityEvent,
    dedup: DedupConfig = DEFAULT_DEDUP,
) -> WorkerState:
    """Return the state after `e`; an event already applied returns `s` unchanged.

    Parameters
    ----------
    model
        Hyperparameters (half-lives).
    s
        The worker's state (``WorkerState(worker_id)`` for a new worker).
    kind
        The input topic's short name, part of the event's identity.
    e
        A validated task, quality or payout event of this worker.
    dedup
        The id window's horizon and cap (an event older than the horizon is
        not applied: `fold_events` says which).

    Examples
    --------
    >>> from reputation.events import parse_quality
    >>> q = parse_quality({"event_id": "q-1", "worker_id": "w", "task_id": "k",
    ...                    "scorer_id": "a", "score": 0.5, "scored_at": "2026-11-01T10:00:00Z"})
    >>> s1 = apply_event(TrustModel(), WorkerState("w"), "quality", q)
    >>> apply_event(TrustModel(), s1, "quality", q) is s1
    True
    """
    return apply_events(model, s, [(kind, e)], dedup)[0]
