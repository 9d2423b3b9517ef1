"""Hyperparameters of the trust model, with their defaults and checks.

The defaults are documented in ``config/README.md``; `config.settings` builds a
`TrustModel` from the environment at start-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from reputation.errors import ConfigError

__all__ = ["OUTCOME_CREDIT", "TrustModel", "payout_weight"]

#: How much each task outcome counts as success (the rest counts as failure).
OUTCOME_CREDIT: dict[str, float] = {"accepted": 1.0, "late": 0.5, "rejected": 0.0, "abandoned": 0.0}


def payout_weight(amount: Decimal) -> float:
    """Turn a payout amount into a scoring weight: sublinear and capped at 3.

    The one place where money becomes a float. A payout of any size counts at
    least 1, so splitting a payout into many small ones does not pay off more
    than the count itself, and one huge payout cannot buy trust.

    Examples
    --------
    >>> payout_weight(Decimal("0"))
    0.0
    >>> round(payout_weight(Decimal("12.50")), 3)
    1.352
    >>> payout_weight(Decimal("1000000"))
    3.0
    """
    if amount <= 0:
        return 0.0
    return min(3.0, 1.0 + math.log10(1.0 + float(amount) / 10.0))


@dataclass(frozen=True, slots=True)
class TrustModel:
    """Time-weighted trust model: the score estimates the quality of the work.

    Evidence is weighted by ``2 ** (-(t_ref - t) / half_life)`` in *event* time,
    so the sum is the same whatever order events arrive in.

    The score separates *what* the work is like from *how much still stands
    behind it*. What: the mean quality of the worker's whole record, each task
    counted once, by its quality score when it has one (a graded verdict on the
    output), otherwise by its outcome (accepted 1, late 0.5, rejected and
    abandoned 0). Counting the accept/reject verdict *and* the quality score of
    the same output would count one piece of evidence twice. Because the
    per-task link is not stored, the tasks without a quality score are estimated
    from the sums: tasks minus quality weight (a quality weight of 1 is one
    task's worth), taken to be the failed tasks first (an abandoned task has no
    output to score), so their credit is never overestimated. How much: the
    score fades from that mean to the prior (`prior_quality`) with the age of
    the latest evidence, by ``2 ** (-age / half_life)``; the decayed volume of
    evidence is the `confidence`.

    Why the record is not re-weighted by age inside the mean: a worker's old
    and new tasks are then weighed by the calendar, not by how much newer work
    there is. On CrowdTruth medical, workers back after 14 months had their
    recent handful of answers (on units harder for everybody) outweigh hundreds
    of earlier ones, and the time-weighted mean ranked workers below the plain
    one. A change in a worker's work is what the drift detectors look for
    (``QUALITY_SHIFT``, a change-point test); an open alert caps the score.
    Why there is no shrinkage by volume: a fixed prior pulls workers with little
    evidence towards one number, up or down depending on where a task type's
    scores sit (span marking averages 0.30 against 0.75), so volume, not work,
    moved the ranking. How much evidence stands behind a score is the
    confidence: ``POST /rank`` filters on it, the bands gate on it.

    Tenure, volume and payer diversity are *not* in the score: a good worker
    with a short history ranks above a mediocre one with a long history. They
    gate the band instead (``trusted`` needs `min_tenure_days`, `min_payers`,
    `min_tasks` and `trusted_min_confidence`), and volume sets the confidence, so
    a new identity still cannot become ``trusted`` quickly. The components
    (reliability, quality, payment history) are published and explained as
    before; each is its own posterior mean shrunk to its own prior.

    With no evidence, or evidence long aged, the score is the prior, not 0.5.
    Two time scales make the bands stable: entering a band needs the long-memory
    score, leaving it needs the short-memory score to cross a wider threshold,
    which acts as hysteresis without remembering the arrival order.

    Parameters
    ----------
    half_life_days, long_half_life_days
        Short and long memory of the evidence (days of event time).
    prior_reliability, prior_quality, prior_payment
        Population base rates each component falls back to.
    prior_strength, quality_prior_strength
        Pseudo-counts of the component priors (how much evidence it takes to
        move a component away from its prior).
    confidence_k
        Decayed evidence units at which confidence is 0.5.
    tenure_full_days, volume_half, payers_full, payer_cap
        Payment history: tenure that counts fully, decayed payout weight at which
        volume counts half, effective payers that count fully, and the cap on
        the payout weight any one payer can contribute.
    trusted_enter, trusted_exit
        ``trusted`` needs the long score >= enter and the short score >= exit.
    review_enter, review_exit
        ``review`` (without an alert) needs the long score <= enter and the short
        score <= exit.
    min_tenure_days, min_payers, min_tasks, trusted_min_confidence
        What an identity needs before it can be ``trusted`` at all.
    new_confidence, review_min_confidence
        Below `new_confidence` a worker is ``new``; low scores only send a
        worker to ``review`` once confidence reaches `review_min_confidence`.
    alert_score_cap, blocked_score_cap
        Ceiling of the score while an alert is open on the worker, and while a
        blocking (sanctions) alert is open.

    Examples
    --------
    >>> TrustModel().prior_score
    0.75
    >>> TrustModel(confidence_k=0)
    Traceback (most recent call last):
    ...
    reputation.errors.ConfigError: confidence_k must be > 0, got 0
    """

    half_life_days: float = 30.0
    long_half_life_days: float = 120.0
    prior_reliability: float = 0.86
    prior_quality: float = 0.75
    prior_payment: float = 0.35
    prior_strength: float = 5.0
    quality_prior_strength: float = 3.0
    confidence_k: float = 25.0
    tenure_full_days: float = 90.0
    volume_half: float = 10.0
    payers_full: float = 4.0
    payer_cap: float = 15.0
    trusted_enter: float = 0.80
    trusted_exit: float = 0.74
    review_enter: float = 0.40
    review_exit: float = 0.46
    min_tenure_days: float = 30.0
    min_payers: int = 3
    min_tasks: int = 40
    trusted_min_confidence: float = 0.5
    new_confidence: float = 0.2
    review_min_confidence: float = 0.3
    alert_score_cap: float = 0.45
    blocked_score_cap: float = 0.05
    version: str = field(default="3")

    def __post_init__(self) -> None:
        for name in (
            "half_life_days",
            "long_half_life_days",
            "prior_strength",
            "quality_prior_strength",
            "confidence_k",
            "tenure_full_days",
            "volume_half",
            "payers_full",
            "payer_cap",
        ):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value}")
        if self.long_half_life_days < self.half_life_days:
            raise ConfigError(
                f"long_half_life_days must be >= half_life_days, got {self.long_half_life_days}"
            )
        for name in (
            "prior_reliability",
            "prior_quality",
            "prior_payment",
            "trusted_enter",
            "trusted_exit",
            "review_enter",
            "review_exit",
            "trusted_min_confidence",
            "new_confidence",
            "review_min_confidence",
            "alert_score_cap",
            "blocked_score_cap",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be within 0..1, got {value}")
        if self.trusted_exit > self.trusted_enter:
            raise ConfigError(f"trusted_exit must be <= trusted_enter, got {self.trusted_exit}")
        if self.review_exit < self.review_enter:
            raise ConfigError(f"review_exit must be >= review_enter, got {self.review_exit}")
        if self.review_exit >= self.trusted_exit:
            raise ConfigError(f"review_exit must be < trusted_exit, got {self.review_exit}")
        if self.min_payers < 1 or self.min_tasks < 0 or self.min_tenure_days < 0:
            raise ConfigError("min_payers must be >= 1, min_tasks and min_tenure_days >= 0")

    @property
    def half_lives_s(self) -> tuple[float, float]:
        """Short and long half-lives in seconds."""
        return (self.half_life_days * 86400.0, self.long_half_life_days * 86400.0)

    @property
    def prior_score(self) -> float:
        """The score of a worker with no evidence: the quality base rate."""
        return self.prior_quality
