"""Read a worker's state as a trust record: score, confidence, band, components, reasons.

A record is a pure function of the state and the time it is read at, so the
engine, ``vigil replay`` and the HTTP API give the same answer for the same
events. Every number carries its reasons: `explain` lists the inputs behind
each component and the rule that chose the band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from reputation.events import format_time
from reputation.identity import identity_summary
from reputation.model import TrustModel
from reputation.state import WorkerState

__all__ = [
    "BANDS",
    "BLOCKING_FLAGS",
    "Band",
    "Components",
    "ScoreParts",
    "TrustRecord",
    "assess",
    "explain",
    "reason_text",
    "score_cap",
]

Band = Literal["trusted", "standard", "new", "review", "blocked"]
BANDS: tuple[Band, ...] = ("trusted", "standard", "new", "review", "blocked")
#: Open alert types that block a worker outright; every other open alert means review.
BLOCKING_FLAGS: frozenset[str] = frozenset({"SANCTIONED_PAYOUT"})

_REASON_TEXT: dict[str, str] = {
    "SANCTIONED_PAYOUT": "paid to a wallet on a sanctions list",
    "LITTLE_EVIDENCE": "too little recent evidence to judge",
    "LOW_RELIABILITY": "many tasks rejected, late or abandoned",
    "HIGH_RELIABILITY": "tasks almost always accepted",
    "LOW_QUALITY": "output quality below the population",
    "HIGH_QUALITY": "output quality well above the population",
    "LONG_HISTORY": "long track record",
    "SHORT_HISTORY": "track record shorter than the minimum tenure for trusted",
    "MANY_PAYERS": "work accepted and paid by several payers",
    "FEW_PAYERS": "fewer distinct payers than needed for trusted",
    "FEW_TASKS": "fewer tasks than needed for trusted",
    "NO_PAYOUTS": "no payouts seen yet",
    "PAYER_CONCENTRATION": "almost all payouts come from one payer",
    "INACTIVE": "no activity for longer than the half-life; evidence is fading",
}


def reason_text(code: str) -> str:
    """Return the human sentence for a reason code (alert types read as open alerts).

    Examples
    --------
    >>> reason_text("MANY_PAYERS")
    'work accepted and paid by several payers'
    >>> reason_text("ACTIVITY_HOURS_SHIFT")
    'open alert: ACTIVITY_HOURS_SHIFT'
    """
    return _REASON_TEXT.get(code, f"open alert: {code}")


@dataclass(frozen=True, slots=True)
class Components:
    """Component values in 0..1 for one memory length (published and explained)."""

    reliability: float
    quality: float
    payment_history: float


@dataclass(frozen=True, slots=True)
class ScoreParts:
    """The evidence behind the score for one memory length (see `TrustModel`).

    ``scored`` is the worker's whole quality weight and ``quality_sum`` its
    weighted scores; ``unscored`` the tasks without a quality score and
    ``unscored_credit`` their estimated outcome credit (all undecayed: the record
    the estimate rests on). ``freshness`` is ``2 ** (-age / half_life)``, the age
    being the time since the latest evidence: how much of the estimate still stands.
    """

    scored: float
    quality_sum: float
    unscored: float
    unscored_credit: float
    freshness: float

    @property
    def estimate(self) -> float | None:
        """Return the mean quality of the record (None with no task or quality score)."""
        total = self.scored + self.unscored
        if total <= 0:
            return None
        return (self.quality_sum + self.unscored_credit) / total

    def score(self, model: TrustModel) -> float:
        """Return the record's mean quality, faded towards the prior with its age."""
        m = self.estimate
        if m is None:
            return model.prior_score
        return model.prior_score + (m - model.prior_score) * self.freshness

    def shares(self, model: TrustModel) -> tuple[float, float, float]:
        """Return the shares of the score resting on quality scores, outcomes and the prior."""
        total = self.scored + self.unscored
        if total <= 0:
            return (0.0, 0.0, 1.0)
        c = self.freshness
        return (c * self.scored / total, c * self.unscored / total, 1.0 - c)


@dataclass(frozen=True, slots=True)
class TrustRecord:
    """A worker's trust as published on ``vigil.scores``."""

    worker_id: str
    as_of: datetime
    score: float
    score_long: float
    confidence: float
    band: Band
    band_rule: str
    components: Components
    reasons: tuple[str, ...]
    flags: tuple[str, ...]
    evidence: dict[str, object]
    model: str

    def to_json(self) -> dict[str, object]:
        """Return the contract JSON object of ``vigil.scores``."""
        c = self.components
        return {
            "worker_id": self.worker_id,
            "as_of": format_time(self.as_of),
            "score": self.score,
            "confidence": self.confidence,
            "band": self.band,
            "components": {
                "reliability": c.reliability,
                "quality": c.quality,
                "payment_history": c.payment_history,
            },
            "reasons": list(self.reasons),
            "flags": list(self.flags),
            "evidence": self.evidence,
            "model": self.model,
        }


@dataclass(frozen=True, slots=True)
class _View:
    """The state's decayed sums read at one time."""

    credit: tuple[float, float]
    attempts: tuple[float, float]
    q_sum: tuple[float, float]
    q_weight: tuple[float, float]
    payer_weight: dict[str, float]
    freshness: tuple[float, float]
    tenure_days: float
    volume: float
    effective_payers: float


def _view(model: TrustModel, s: WorkerState, at: float) -> _View:
    t_ref = at if s.t_ref is None else s.t_ref
    dt = max(0.0, at - t_ref)
    h_short, h_long = model.half_lives_s
    f = (2.0 ** (-dt / h_short), 2.0 ** (-dt / h_long))
    payer_weight = {p: w * f[0] for p, w in s.payer_weight.items()}
    capped = [min(w, model.payer_cap) for w in payer_weight.values()]
    volume = math.fsum(sorted(capped))
    # Effective number of payers: exp(Shannon entropy) of the capped payout weights.
    entropy = (
        -math.fsum(sorted((w / volume) * math.log(w / volume) for w in capped if w > 0))
        if volume > 0
        else 0.0
    )
    tenure = (
        0.0
        if s.first_seen is None or s.last_seen is None
        else (s.last_seen - s.first_seen) / 86400.0
    )
    return _View(
        credit=(s.credit[0] * f[0], s.credit[1] * f[1]),
        attempts=(s.attempts[0] * f[0], s.attempts[1] * f[1]),
        q_sum=(s.q_sum[0] * f[0], s.q_sum[1] * f[1]),
        q_weight=(s.q_weight[0] * f[0], s.q_weight[1] * f[1]),
        payer_weight=payer_weight,
        freshness=f,
        tenure_days=tenure,
        volume=volume,
        effective_payers=math.exp(entropy) if volume > 0 else 0.0,
    )


def _parts(s: WorkerState, v: _View, i: int) -> ScoreParts:
    # A task with a quality score counts by that score only; the rest by outcome. Which
    # tasks went unscored is not stored, so they are taken to be the failed ones first
    # (an abandoned task has no output to score): their credit is what the scored
    # tasks, at most 1 each, leave over. Exact when only failures or only successes
    # go unscored, and never kinder than the truth.
    accepted, _, late, _ = s.outcomes
    scored_weight, scored_sum = s.q_total[1], s.q_total[0]
    unscored = max(0.0, s.n_tasks - scored_weight)
    credit = min(unscored, max(0.0, accepted + 0.5 * late - scored_weight))
    return ScoreParts(scored_weight, scored_sum, unscored, credit, v.freshness[i])


def _components(model: TrustModel, v: _View, i: int) -> Components:
    k, kq = model.prior_strength, model.quality_prior_strength
    reliability = (v.credit[i] + k * model.prior_reliability) / (v.attempts[i] + k)
    quality = (v.q_sum[i] + kq * model.prior_quality) / (v.q_weight[i] + kq)
    return Components(reliability, quality, _payment(model, v))


def _payment(model: TrustModel, v: _View) -> float:
    tenure_f = min(1.0, v.tenure_days / model.tenure_full_days)
    volume_f = 1.0 - 2.0 ** (-v.volume / model.volume_half)
    payers_f = min(1.0, v.effective_payers / model.payers_full)
    establishment = float((tenure_f * volume_f * payers_f) ** (1.0 / 3.0))
    return model.prior_payment + (1.0 - model.prior_payment) * establishment


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def assess(model: TrustModel, s: WorkerState, at: datetime | None = None) -> TrustRecord:
    """Return the worker's trust record read at `at` (default: its latest event time).

    Reading later than the latest event decays the evidence: confidence falls and
    the score drifts back to the prior. Reading earlier than the latest event is
    not possible from aggregated state; such a time is moved to the latest event.

    Examples
    --------
    >>> r = assess(TrustModel(), WorkerState("w-1"), datetime(2026, 11, 1, tzinfo=UTC))
    >>> abs(r.score - TrustModel().prior_score) < 1e-12, r.confidence, r.band
    (True, 0.0, 'new')
    """
    t_ref = s.t_ref
    at_s = (t_ref if t_ref is not None else 0.0) if at is None else at.timestamp()
    if t_ref is not None:
        at_s = max(at_s, t_ref)
    v = _view(model, s, at_s)
    short = _components(model, v, 0)
    score, score_long = _clip(_parts(s, v, 0).score(model)), _clip(_parts(s, v, 1).score(model))
    score = min(score, score_cap(model, s))
    evidence_units = v.attempts[0] + 0.5 * v.q_weight[0]
    confidence = evidence_units / (evidence_units + model.confidence_k)
    band, rule, gates = _band(model, s, v, score, score_long, confidence)
    reasons = _reasons(model, s, v, short, _parts(s, v, 0), confidence, gates, at_s)
    return TrustRecord(
        worker_id=s.worker_id,
        as_of=datetime.fromtimestamp(at_s, UTC),
        score=score,
        score_long=score_long,
        confidence=confidence,
        band=band,
        band_rule=rule,
        components=short,
        reasons=reasons,
        flags=tuple(sorted(s.flags)),
        evidence=_evidence(s, v),
        model=model.version,
    )


def score_cap(model: TrustModel, s: WorkerState) -> float:
    """Return the ceiling open alerts put on the score (1.0 with none open).

    A score is what a platform routes work by: a worker with an open alert must
    not outrank clean workers while a person looks at it. The band says why.

    Examples
    --------
    >>> from reputation.state import set_alert
    >>> m = TrustModel()
    >>> flagged = set_alert(WorkerState("w"), "a", "QUALITY_SHIFT", True)
    >>> score_cap(m, WorkerState("w")), score_cap(m, flagged)
    (1.0, 0.45)
    """
    if s.flags & BLOCKING_FLAGS:
        return model.blocked_score_cap
    if s.flags:
        return model.alert_score_cap
    return 1.0


def _band(
    model: TrustModel,
    s: WorkerState,
    v: _View,
    score: float,
    score_long: float,
    confidence: float,
) -> tuple[Band, str, tuple[str, ...]]:
    gates = []
    if v.tenure_days < model.min_tenure_days:
        gates.append("SHORT_HISTORY")
    if len(s.payers) < model.min_payers:
        gates.append("FEW_PAYERS")
    if s.n_tasks < model.min_tasks:
        gates.append("FEW_TASKS")
    if s.flags & BLOCKING_FLAGS:
        return (
            "blocked",
            "a blocking alert is open: " + ", ".join(sorted(s.flags & BLOCKING_FLAGS)),
            tuple(gates),
        )
    if s.flags:
        return "review", "an alert is open: " + ", ".join(sorted(s.flags)), tuple(gates)
    if confidence < model.new_confidence:
        return "new", f"confidence {confidence:.2f} < {model.new_confidence}", tuple(gates)
    if (
        confidence >= model.review_min_confidence
        and score_long <= model.review_enter
        and score <= model.review_exit
    ):
        return (
            "review",
            (
                f"long-memory score {score_long:.3f} <= {model.review_enter} and "
                f"score {score:.3f} <= {model.review_exit}"
            ),
            tuple(gates),
        )
    eligible = not gates and confidence >= model.trusted_min_confidence
    if eligible and score_long >= model.trusted_enter and score >= model.trusted_exit:
        return (
            "trusted",
            (
                f"long-memory score {score_long:.3f} >= {model.trusted_enter}, score "
                f"{score:.3f} >= {model.trusted_exit}, tenure, tasks and payers "
                "meet the minimums"
            ),
            tuple(gates),
        )
    if gates:
        return "standard", "not yet eligible for trusted: " + ", ".join(gates), tuple(gates)
    return (
        "standard",
        (
            f"long-memory score {score_long:.3f} < {model.trusted_enter} or score "
            f"{score:.3f} < {model.trusted_exit}, or confidence "
            f"{confidence:.2f} < {model.trusted_min_confidence}"
        ),
        tuple(gates),
    )


def _reasons(
    model: TrustModel,
    s: WorkerState,
    v: _View,
    c: Components,
    parts: ScoreParts,
    confidence: float,
    gates: tuple[str, ...],
    at_s: float,
) -> tuple[str, ...]:
    out: list[str] = sorted(s.flags & BLOCKING_FLAGS) + sorted(s.flags - BLOCKING_FLAGS)
    if confidence < model.new_confidence:
        out.append("LITTLE_EVIDENCE")
    out.extend(gates)
    # Component reasons ordered by how far they move the score from the prior: each
    # component's distance from its prior times the share of the score resting on it.
    signals: list[tuple[float, str]] = []
    q_share, outcome_share, _ = parts.shares(model)
    rel_delta = outcome_share * (c.reliability - model.prior_reliability)
    q_delta = q_share * (c.quality - model.prior_quality)
    if c.reliability < model.prior_reliability - 0.1:
        signals.append((abs(rel_delta), "LOW_RELIABILITY"))
    elif c.reliability >= 0.9 and v.attempts[0] >= 10:
        signals.append((abs(rel_delta), "HIGH_RELIABILITY"))
    if c.quality < model.prior_quality - 0.15:
        signals.append((abs(q_delta), "LOW_QUALITY"))
    elif c.quality >= 0.85 and v.q_weight[0] >= 10:
        signals.append((abs(q_delta), "HIGH_QUALITY"))
    out.extend(code for _, code in sorted(signals, key=lambda x: (-x[0], x[1])))
    if "SHORT_HISTORY" not in gates and s.first_seen is not None:
        out.append("LONG_HISTORY")
    if "FEW_PAYERS" not in gates:
        out.append("MANY_PAYERS")
    if s.n_payouts == 0:
        out.append("NO_PAYOUTS")
    elif (
        v.volume > 0
        and s.n_payouts >= 5
        and max(min(w, model.payer_cap) for w in v.payer_weight.values()) > 0.8 * v.volume
    ):
        out.append("PAYER_CONCENTRATION")
    if s.last_seen is not None and at_s - s.last_seen > model.half_lives_s[0]:
        out.append("INACTIVE")
    return tuple(out)


def _evidence(s: WorkerState, v: _View) -> dict[str, object]:
    def iso(t: float | None) -> str | None:
        return None if t is None else format_time(datetime.fromtimestamp(t, UTC))

    return {
        "tasks": s.n_tasks,
        "outcomes": dict(
            zip(("accepted", "rejected", "late", "abandoned"), s.outcomes, strict=True)
        ),
        "quality_scores": s.n_quality,
        "payouts": s.n_payouts,
        "payers": len(s.payers),
        "wallets": len(s.wallets),
        "paid": {asset: str(amount) for asset, amount in sorted(s.paid.items())},
        "tenure_days": round(v.tenure_days, 3),
        "first_seen": iso(s.first_seen),
        "last_seen": iso(s.last_seen),
    }


def explain(model: TrustModel, s: WorkerState, at: datetime | None = None) -> dict[str, object]:
    """Return the record with the inputs behind every number and the band's rule.

    ``score_inputs`` shows the record the score rests on (quality-scored tasks,
    tasks counted by outcome, their mean) and the freshness that fades it to the
    prior; each component's
    ``weight`` is the share of the score resting on it, so payment history,
    which gates ``trusted`` but is not in the score, has weight 0.
    """
    r = assess(model, s, at)
    v = _view(model, s, r.as_of.timestamp())
    c = r.components
    parts = _parts(s, v, 0)
    q_share, outcome_share, prior_share = parts.shares(model)
    return {
        "worker_id": s.worker_id,
        "as_of": format_time(r.as_of),
        "score": r.score,
        "score_uncapped": _clip(parts.score(model)),
        "score_inputs": {
            "rule": (
                "prior + (record mean - prior) x freshness; record mean = (quality score sum"
                " + outcome credit of unscored tasks) / (quality weight + unscored tasks);"
                " freshness = 2^(-age of the latest evidence / half-life)"
            ),
            "quality_weight": parts.scored,
            "quality_sum": parts.quality_sum,
            "unscored_tasks": parts.unscored,
            "unscored_outcome_credit": parts.unscored_credit,
            "record_mean": parts.estimate,
            "freshness": parts.freshness,
            "prior": model.prior_score,
            "prior_share": prior_share,
        },
        "score_cap": {
            "value": score_cap(model, s),
            "why": "open alerts cap the score until an analyst resolves them"
            if s.flags
            else "no open alert",
        },
        "score_long_memory": r.score_long,
        "prior_score": model.prior_score,
        "confidence": r.confidence,
        "band": r.band,
        "band_rule": r.band_rule,
        "components": {
            "reliability": {
                "value": c.reliability,
                "weight": outcome_share,
                "prior": model.prior_reliability,
                "inputs": {
                    "decayed_successes": v.credit[0],
                    "decayed_tasks": v.attempts[0],
                    "prior_strength": model.prior_strength,
                },
            },
            "quality": {
                "value": c.quality,
                "weight": q_share,
                "prior": model.prior_quality,
                "inputs": {
                    "decayed_score_sum": v.q_sum[0],
                    "decayed_weight": v.q_weight[0],
                    "prior_strength": model.quality_prior_strength,
                },
            },
            "payment_history": {
                "value": c.payment_history,
                "weight": 0.0,
                "prior": model.prior_payment,
                "inputs": {
                    "tenure_days": v.tenure_days,
                    "capped_volume": v.volume,
                    "effective_payers": v.effective_payers,
                    "payer_cap": model.payer_cap,
                },
            },
        },
        "reasons": [{"code": code, "text": reason_text(code)} for code in r.reasons],
        "flags": list(r.flags),
        "evidence": r.evidence,
        "half_life_days": model.half_life_days,
        "model": model.version,
        "identity": identity_summary(s.identity),
    }
