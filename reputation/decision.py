"""The paying or hiring agent's decision: allow, review or deny one payout to one wallet.

`decide` joins what the engine knows about a worker (its trust record and open
alerts, or nothing: an unseen worker) with what it knows about a wallet (listed,
linked with its path, seen and clean, or never seen) and the amount about to be
paid. It is pure: the same views, amount and time always give the same answer.

Rules, strongest first (`DecisionPolicy` holds the numbers):

- **deny** (a hard block, listed in ``blocks``): the wallet is on a sanctions
  list now (whatever the score), or the worker's band is ``blocked``.
- **review**: the wallet is linked (within the exposure search's hops of a
  listed address), the worker's band is ``review``, an alert of severity
  ``high`` or ``critical`` is open on the worker or the wallet (an open alert
  whose severity is not known yet counts as high), or the coverage is not
  ``full`` and the amount is above the asset's unverified limit.
- **allow** otherwise.

Coverage says how much the answer rests on: ``unknown`` when neither the worker
nor the wallet has been seen, ``partial`` when one of them is missing, or the
wallet's transfers were never seen (its graph was never followed) or its search
was cut short, and ``full`` when both are known and the wallet's graph was
searched. An unseen side is never reported as clean: it is a reason of its own
and keeps the coverage below ``full``.

``max_age_s`` is how long the answer may be cached: long for a deny (a cached
deny fails safe), short while anything is open or undecided (a review, an open
alert, coverage below full, or a score or confidence within ``near_margin`` of a
band threshold), the ordinary value otherwise; the reason says which.

Examples
--------
>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from reputation.model import TrustModel
>>> wallet = WalletView(Address("0x" + "ab" * 20), listed=True, linked=False)
>>> d = decide(DecisionPolicy(), TrustModel(), None, wallet, Decimal("5"), "USDC",
...            datetime(2026, 12, 1, tzinfo=UTC))
>>> d.decision, [b.code for b in d.blocks], d.coverage
('deny', ['WALLET_LISTED'], 'partial')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from reputation.assess import reason_text
from reputation.errors import ConfigError, DeadLetterReason, InvalidEventError
from reputation.events import Address, format_time, parse_time
from reputation.model import TrustModel

__all__ = [
    "COVERAGES",
    "DECISIONS",
    "Coverage",
    "DecisionPolicy",
    "DecisionResult",
    "OpenAlert",
    "Reason",
    "Verdict",
    "WalletView",
    "WorkerView",
    "decide",
    "parse_amount",
    "parse_asset",
    "parse_limits",
    "wallet_view_from_exposure",
    "worker_view_from_record",
]

Verdict = Literal["allow", "review", "deny"]
Coverage = Literal["unknown", "partial", "full"]
Effect = Literal["deny", "review", "info"]
DECISIONS: tuple[Verdict, ...] = ("allow", "review", "deny")
COVERAGES: tuple[Coverage, ...] = ("unknown", "partial", "full")
_RANK: dict[str, int] = {"info": 0, "review": 1, "deny": 2}
_SERIOUS = frozenset({"high", "critical"})
_DECIMAL = re.compile(r"[0-9]{1,30}(\.[0-9]{1,18})?")
_ASSET = re.compile(r"[A-Za-z0-9.\-_]{1,32}")

#: Unverified limits by asset: the most paid when coverage is not full (see config/README.md).
DEFAULT_UNVERIFIED_LIMITS: tuple[tuple[str, Decimal], ...] = (
    ("DAI", Decimal("50")),
    ("ETH", Decimal("0.02")),
    ("USDC", Decimal("50")),
    ("USDT", Decimal("50")),
    ("WETH", Decimal("0.02")),
)


@dataclass(frozen=True, slots=True)
class DecisionPolicy:
    """The decision's numbers (``VIGIL_DECISION_*``; defaults in config/README.md).

    ``unverified_limits`` maps an asset (upper case) to the most that may be
    allowed while coverage is below ``full``; any other asset has
    ``unverified_limit_other`` (0: nothing without full coverage).
    ``max_age_s`` is the cache lifetime of a settled answer,
    ``max_age_watch_s`` of one with anything open or near a threshold,
    ``max_age_deny_s`` of a deny. ``near_margin`` is how close a score or
    confidence may come to a band threshold before the answer is "near".
    """

    unverified_limits: tuple[tuple[str, Decimal], ...] = DEFAULT_UNVERIFIED_LIMITS
    unverified_limit_other: float = 0.0
    max_age_s: int = 300
    max_age_watch_s: int = 30
    max_age_deny_s: int = 3600
    near_margin: float = 0.03

    def __post_init__(self) -> None:
        if not 0 < self.max_age_watch_s <= self.max_age_s:
            raise ConfigError(
                "VIGIL_DECISION_MAX_AGE_WATCH_S must be > 0 and at most VIGIL_DECISION_MAX_AGE_S "
                f"({self.max_age_s}), got {self.max_age_watch_s}"
            )
        if self.max_age_deny_s < 1:
            raise ConfigError(
                f"VIGIL_DECISION_MAX_AGE_DENY_S must be >= 1, got {self.max_age_deny_s}"
            )
        if not 0 <= self.near_margin < 0.5:
            raise ConfigError(
                f"VIGIL_DECISION_NEAR_MARGIN must be within 0..0.5, got {self.near_margin}"
            )
        if self.unverified_limit_other < 0:
            raise ConfigError(
                "VIGIL_DECISION_UNVERIFIED_LIMIT_OTHER must be >= 0, "
                f"got {self.unverified_limit_other}"
            )
        for asset, limit in self.unverified_limits:
            if limit < 0 or asset != asset.upper():
                raise ConfigError(
                    f"VIGIL_DECISION_UNVERIFIED_LIMITS: {asset}:{limit} must be an upper-case "
                    "asset with a limit >= 0"
                )

    def limit_for(self, asset: str) -> Decimal:
        """Return the unverified limit of `asset` (case-insensitive)."""
        return dict(self.unverified_limits).get(
            asset.upper(), Decimal(str(self.unverified_limit_other))
        )


def parse_limits(raw: str) -> tuple[tuple[str, Decimal], ...]:
    """Parse ``VIGIL_DECISION_UNVERIFIED_LIMITS`` (``USDC:50,ETH:0.02``), sorted by asset.

    Examples
    --------
    >>> parse_limits("usdc:25, ETH:0.01")
    (('ETH', Decimal('0.01')), ('USDC', Decimal('25')))
    """
    out: dict[str, Decimal] = {}
    for part in filter(None, (p.strip() for p in raw.replace(";", ",").split(","))):
        asset, sep, amount = part.partition(":")
        if not sep or not _ASSET.fullmatch(asset.strip()) or not _DECIMAL.fullmatch(amount.strip()):
            raise ConfigError(
                f"VIGIL_DECISION_UNVERIFIED_LIMITS: expected ASSET:AMOUNT, got {part[:80]!r}"
            )
        out[asset.strip().upper()] = Decimal(amount.strip())
    return tuple(sorted(out.items()))


def _bad(field_name: str, what: str, value: object) -> InvalidEventError:
    return InvalidEventError(
        DeadLetterReason.BAD_MONEY if field_name == "amount" else DeadLetterReason.OUT_OF_RANGE,
        f"{field_name}: {what}, got {str(value)[:80]!r}",
    )


def parse_amount(value: str) -> Decimal:
    """Return a non-negative decimal amount, or raise `InvalidEventError` saying what is wrong.

    Examples
    --------
    >>> parse_amount("12.50")
    Decimal('12.50')
    >>> parse_amount("-1")
    Traceback (most recent call last):
    ...
    reputation.errors.InvalidEventError: amount: must not be negative, got '-1'
    """
    text = value.strip()
    if _DECIMAL.fullmatch(text):
        return Decimal(text)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _bad("amount", 'must be a decimal number like "12.50"', value) from None
    if number.is_finite() and number < 0:
        raise _bad("amount", "must not be negative", value)
    raise _bad("amount", 'must be a plain decimal like "12.50" (up to 18 places)', value)


def parse_asset(value: str) -> str:
    """Return an asset symbol in upper case (1-32 letters, digits or ``.-_``).

    Examples
    --------
    >>> parse_asset("usdc")
    'USDC'
    """
    if not _ASSET.fullmatch(value):
        raise _bad("asset", "must be 1-32 letters, digits or .-_", value)
    return value.upper()


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An open alert on the worker or the wallet; `severity` None: not known yet."""

    alert_id: str
    type: str
    severity: str | None

    @property
    def serious(self) -> bool:
        """Tell whether it is high or critical (an unknown severity counts as high)."""
        return self.severity is None or self.severity in _SERIOUS


@dataclass(frozen=True, slots=True)
class WorkerView:
    """What the decision needs of a worker's trust record (read at one time)."""

    worker_id: str
    score: float
    confidence: float
    band: str
    as_of: datetime
    reasons: tuple[str, ...] = ()
    open_alerts: tuple[OpenAlert, ...] = ()


@dataclass(frozen=True, slots=True)
class WalletView:
    """What the decision needs of a wallet's exposure.

    ``transfers_seen`` is how many of its transfers the graph holds: none means
    its graph was never followed. ``hops`` and ``listed_address`` describe the
    shortest path of a linked wallet.
    """

    address: Address
    listed: bool = False
    linked: bool = False
    hops: int | None = None
    listed_address: str | None = None
    program: str | None = None
    payouts_seen: int = 0
    transfers_seen: int = 0
    truncated: bool = False
    service_or_hub: bool = False
    workers: tuple[str, ...] = ()
    open_alerts: tuple[OpenAlert, ...] = ()

    @property
    def seen(self) -> bool:
        """Tell whether the engine has seen this wallet at all (a listing, payout or transfer)."""
        return self.listed or self.linked or self.payouts_seen > 0 or self.transfers_seen > 0

    @property
    def followed(self) -> bool:
        """Tell whether the wallet's graph was searched: transfers known, search not cut short."""
        return self.transfers_seen > 0 and not self.truncated


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason of a decision: a stable code, its effect and a sentence for people."""

    code: str
    effect: Effect
    text: str

    def to_json(self) -> dict[str, str]:
        """Return ``{"code", "effect", "text"}``."""
        return {"code": self.code, "effect": self.effect, "text": self.text}


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """The answer of ``GET /decision`` (`to_json`), with every reason behind it."""

    decision: Verdict
    blocks: tuple[Reason, ...]
    reasons: tuple[Reason, ...]
    coverage: Coverage
    worker_id: str
    wallet: Address
    amount: Decimal
    asset: str
    unverified_limit: Decimal
    as_of: datetime
    max_age_s: int
    max_age_reason: Reason
    worker: WorkerView | None = None

    def to_json(self) -> dict[str, object]:
        """Return the contract's JSON object (money as decimal strings)."""
        w = self.worker
        return {
            "decision": self.decision,
            "blocks": [b.to_json() for b in self.blocks],
            "score": None if w is None else w.score,
            "band": None if w is None else w.band,
            "confidence": None if w is None else w.confidence,
            "coverage": self.coverage,
            "reasons": [r.to_json() for r in self.reasons],
            "as_of": format_time(self.as_of),
            "max_age_s": self.max_age_s,
            "max_age_reason": self.max_age_reason.to_json(),
            "worker_id": self.worker_id,
            "wallet": self.wallet,
            "amount": str(self.amount),
            "asset": self.asset,
            "unverified_limit": str(self.unverified_limit),
            "worker_reasons": (
                [] if w is None else [{"code": c, "text": reason_text(c)} for c in w.reasons]
            ),
        }


def _coverage(worker: WorkerView | None, wallet: WalletView) -> Coverage:
    if worker is None and not wallet.seen:
        return "unknown"
    if worker is None or not wallet.followed:
        return "partial"
    return "full"


def _near(policy: DecisionPolicy, model: TrustModel, w: WorkerView) -> str | None:
    """Return which band threshold the worker is within `near_margin` of, if any."""
    m = policy.near_margin
    for name, value, threshold in (
        ("score", w.score, model.trusted_enter),
        ("score", w.score, model.trusted_exit),
        ("score", w.score, model.review_enter),
        ("score", w.score, model.review_exit),
        ("confidence", w.confidence, model.new_confidence),
        ("confidence", w.confidence, model.trusted_min_confidence),
    ):
        if abs(value - threshold) <= m:
            return f"{name} {value:.3f} is within {m:g} of the threshold {threshold:g}"
    return None


def _worker_reasons(w: WorkerView | None, wallet: WalletView) -> list[Reason]:
    if w is None:
        return [
            Reason("WORKER_UNSEEN", "info", "the engine has no record of this worker: not clean")
        ]
    out: list[Reason] = []
    if w.band == "blocked":
        out.append(Reason("WORKER_BLOCKED", "deny", "the worker's band is blocked"))
    elif w.band == "review":
        out.append(Reason("WORKER_REVIEW", "review", "the worker's band is review"))
    elif w.band == "new":
        out.append(Reason("WORKER_NEW", "info", f"little evidence (confidence {w.confidence:.2f})"))
    for a in w.open_alerts:
        sev = a.severity or "not yet known"
        effect: Effect = "review" if a.serious else "info"
        out.append(
            Reason("OPEN_ALERT", effect, f"open {a.type} alert on the worker (severity {sev})")
        )
    if wallet.seen and w.worker_id not in wallet.workers:
        out.append(
            Reason("WALLET_NEW_FOR_WORKER", "info", "this worker has not been paid to this wallet")
        )
    return out


def _wallet_reasons(wallet: WalletView, worker_id: str) -> list[Reason]:
    out: list[Reason] = []
    if wallet.listed:
        what = f" ({wallet.program})" if wallet.program else ""
        out.append(Reason("WALLET_LISTED", "deny", f"the wallet is on a sanctions list{what}"))
    if wallet.linked:
        hops = "?" if wallet.hops is None else str(wallet.hops)
        out.append(
            Reason(
                "WALLET_LINKED",
                "review",
                f"the wallet is {hops} transfer hop(s) from listed address {wallet.listed_address}",
            )
        )
    for a in wallet.open_alerts:
        sev = a.severity or "not yet known"
        effect: Effect = "review" if a.serious else "info"
        out.append(
            Reason("OPEN_ALERT", effect, f"open {a.type} alert on the wallet (severity {sev})")
        )
    if not wallet.seen:
        out.append(
            Reason("WALLET_UNSEEN", "info", "the engine has never seen this wallet: not clean")
        )
    elif wallet.transfers_seen == 0 and not wallet.listed:
        out.append(
            Reason(
                "WALLET_NOT_FOLLOWED",
                "info",
                "no transfers of this wallet were seen: its graph was never followed",
            )
        )
    if wallet.truncated:
        out.append(
            Reason("EXPOSURE_TRUNCATED", "info", "the wallet's exposure search hit its size limit")
        )
    if wallet.service_or_hub:
        out.append(
            Reason("WALLET_IS_SERVICE", "info", "the wallet is a known service or hub address")
        )
    others = [x for x in wallet.workers if x != worker_id]
    if others:
        out.append(
            Reason(
                "WALLET_SHARED", "info", f"{len(others)} other worker(s) were paid to this wallet"
            )
        )
    return out


def decide(
    policy: DecisionPolicy,
    model: TrustModel,
    worker: WorkerView | None,
    wallet: WalletView,
    amount: Decimal,
    asset: str,
    at: datetime,
    worker_id: str | None = None,
) -> DecisionResult:
    """Decide one payout of `amount` `asset` to `wallet` for `worker` (None: unseen) at `at`.

    `worker_id` names an unseen worker (default: the view's id). Reasons come
    most important first: denies, then reviews, then information.
    """
    wid = worker.worker_id if worker is not None else (worker_id or "")
    coverage = _coverage(worker, wallet)
    limit = policy.limit_for(asset)
    found = _wallet_reasons(wallet, wid) + _worker_reasons(worker, wallet)
    if coverage != "full":
        if amount > limit:
            found.append(
                Reason(
                    "UNVERIFIED_AMOUNT",
                    "review",
                    f"coverage is {coverage} and {amount} {asset.upper()} is above the "
                    f"unverified limit of {limit} {asset.upper()}",
                )
            )
        else:
            found.append(
                Reason(
                    "SMALL_UNVERIFIED_AMOUNT",
                    "info",
                    f"coverage is {coverage}; {amount} {asset.upper()} is within the "
                    f"unverified limit of {limit} {asset.upper()}",
                )
            )
    reasons = tuple(sorted(found, key=lambda r: -_RANK[r.effect]))  # stable: keeps rule order
    blocks = tuple(r for r in reasons if r.effect == "deny")
    worst = max((_RANK[r.effect] for r in reasons), default=0)
    decision: Verdict = ("allow", "review", "deny")[worst]
    if decision == "allow" and coverage == "full":
        reasons += (
            Reason("KNOWN_AND_CLEAN", "info", "worker and wallet are known and nothing is open"),
        )
    max_age, why = _max_age(policy, model, decision, coverage, worker, wallet)
    return DecisionResult(
        decision=decision,
        blocks=blocks,
        reasons=reasons,
        coverage=coverage,
        worker_id=wid,
        wallet=wallet.address,
        amount=amount,
        asset=asset.upper(),
        unverified_limit=limit,
        as_of=at,
        max_age_s=max_age,
        max_age_reason=why,
        worker=worker,
    )


def _max_age(
    policy: DecisionPolicy,
    model: TrustModel,
    decision: Verdict,
    coverage: Coverage,
    worker: WorkerView | None,
    wallet: WalletView,
) -> tuple[int, Reason]:
    if decision == "deny":
        return policy.max_age_deny_s, Reason(
            "CACHE_DENY", "info", "a hard block: a cached deny fails safe"
        )
    open_alerts = (() if worker is None else worker.open_alerts) + wallet.open_alerts
    watch: str | None = None
    if decision == "review":
        watch = "the answer is review: an analyst or new evidence may change it soon"
    elif open_alerts:
        watch = "an alert is open"
    elif coverage != "full":
        watch = f"coverage is {coverage}: evidence may arrive soon"
    elif worker is not None:
        watch = _near(policy, model, worker)
    if watch is not None:
        return policy.max_age_watch_s, Reason("CACHE_SHORT", "info", watch)
    return policy.max_age_s, Reason("CACHE_SETTLED", "info", "nothing open or near a threshold")


def _float(record: Mapping[str, object], key: str) -> float:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEventError(DeadLetterReason.WRONG_TYPE, f"{key}: must be a number")
    return float(value)


def _strs(value: object) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return ()
    return tuple(str(x) for x in value)


def worker_view_from_record(
    record: Mapping[str, object], alerts: Sequence[Mapping[str, object]] = ()
) -> WorkerView:
    """Return the view of a trust record (the JSON of ``vigil.scores`` / ``/trust``).

    `alerts` are the open alerts known for the worker (with their severity);
    a flag (open alert type) with none among them gets an unknown severity.
    """
    by_type = {str(a.get("type")): a for a in alerts}
    open_alerts = tuple(
        OpenAlert(
            str(by_type[t].get("alert_id", "")) if t in by_type else "",
            t,
            _severity(by_type[t]) if t in by_type else None,
        )
        for t in _strs(record.get("flags"))
    )
    return WorkerView(
        worker_id=str(record.get("worker_id", "")),
        score=_float(record, "score"),
        confidence=_float(record, "confidence"),
        band=str(record.get("band", "")),
        as_of=parse_time(record.get("as_of"), "as_of"),
        reasons=_strs(record.get("reasons")),
        open_alerts=open_alerts,
    )


def _severity(alert: Mapping[str, object]) -> str | None:
    value = alert.get("severity")
    return value if isinstance(value, str) else None


def _int(body: Mapping[str, object], key: str) -> int:
    value = body.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def wallet_view_from_exposure(
    address: Address,
    body: Mapping[str, object],
    alerts: Sequence[Mapping[str, object]] = (),
) -> WalletView:
    """Return the view of an exposure answer (the JSON of ``/wallets/{address}/exposure``).

    `alerts` are the open alerts raised on the wallet.
    """
    path = body.get("path")
    hops: int | None = None
    listed_address: str | None = None
    if isinstance(path, Mapping):
        raw_hops = path.get("hops")
        hops = len(raw_hops) if isinstance(raw_hops, Sequence) else None
        listed = path.get("listed")
        listed_address = listed if isinstance(listed, str) else None
    listing = body.get("listing")
    program = listing.get("program") if isinstance(listing, Mapping) else None
    return WalletView(
        address=address,
        listed=body.get("listed") is True,
        linked=body.get("linked") is True,
        hops=hops,
        listed_address=listed_address,
        program=program if isinstance(program, str) else None,
        payouts_seen=_int(body, "payouts_seen"),
        transfers_seen=_int(body, "transfers_seen"),
        truncated=body.get("truncated") is True,
        service_or_hub=body.get("service_or_hub") is True,
        workers=_strs(body.get("workers")),
        open_alerts=tuple(
            OpenAlert(str(a.get("alert_id", "")), str(a.get("type", "")), _severity(a))
            for a in alerts
        ),
    )
