"""Alert records (``vigil.alerts``) and alert-status commands, built from detector results.

An alert's id is a hash of its type, its subject and what triggered it, so the
same condition found twice (a redelivered event, a replay of the same events)
gives the same id: consumers can deduplicate by ``alert_id``, and the engine
raises each id once.

A status command (``{prefix}alert-status``, keyed by worker id) opens or closes
an alert on a worker's record: the wallet side opens sanctions and shared-wallet
alerts on the workers it concerns, and an analyst's resolution closes one.

A drift alert whose evidence no longer holds (a late event changed the day that
raised it) is *withdrawn*: the engine writes its record again to
``vigil.alerts`` with ``"status": "withdrawn"`` and the reason (`Withdrawal`),
and closes it on the worker. The alerts that stand are then the same whatever
order the events came in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, cast

from reputation.errors import DeadLetterReason, InvalidEventError
from reputation.events import Address, format_time, parse_time
from reputation.exposure.graph import MatchKind, PayoutMatch

__all__ = [
    "ALERT_KINDS",
    "DISPOSITIONS",
    "DRIFT_ALERT_TYPES",
    "SANCTIONS_ALERT_TYPES",
    "SEVERITIES",
    "WITHDRAWN",
    "Alert",
    "AlertFinding",
    "AlertStatus",
    "Withdrawal",
    "alert_from_json",
    "drift_alert",
    "drift_withdrawal",
    "make_alert_id",
    "parse_alert_status",
    "sanctions_alert",
    "shared_alert",
]

AlertKind = Literal["drift", "sanctions"]
Severity = Literal["low", "medium", "high", "critical"]
ALERT_KINDS: tuple[AlertKind, ...] = ("drift", "sanctions")
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
DRIFT_ALERT_TYPES: tuple[str, ...] = (
    "ACTIVITY_HOURS_SHIFT",
    "QUALITY_SHIFT",
    "VELOCITY_SURGE",
    "CONTEXT_SHIFT",
    "PAYOUT_WALLET_CHANGE",
    "SHARED_WALLET",
    "SHARED_DEVICE",
)
SANCTIONS_ALERT_TYPES: tuple[str, ...] = (
    "SANCTIONED_PAYOUT",
    "SANCTIONED_LINKED_PAYOUT",
    "RETROACTIVE_MATCH",
)
#: What an analyst may conclude when closing an alert.
DISPOSITIONS: tuple[str, ...] = ("confirmed", "false_positive", "benign", "duplicate")
_MAX_NOTE = 2000
#: The ``status`` of an alert record that takes back an alert raised before.
WITHDRAWN = "withdrawn"


def make_alert_id(alert_type: str, subject: str, trigger: str) -> str:
    """Return the stable id of an alert: 24 hex digits of a hash of its identity.

    Examples
    --------
    >>> a = make_alert_id("SHARED_WALLET", "w-1", "0xabc")
    >>> a == make_alert_id("SHARED_WALLET", "w-1", "0xabc") != make_alert_id("X", "w-1", "0xabc")
    True
    >>> len(make_alert_id("SANCTIONED_PAYOUT", "w-1", "p-1"))
    24
    """
    digest = hashlib.blake2b(f"{alert_type}\x00{subject}\x00{trigger}".encode(), digest_size=12)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as written to ``vigil.alerts`` (see CONTRACT.md)."""

    alert_id: str
    kind: AlertKind
    type: str
    severity: Severity
    worker_id: str | None
    wallet: Address | None
    detected_at: datetime
    evidence: Mapping[str, object] = field(default_factory=dict)
    event_ids: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The Kafka key: the worker id, or the wallet for an alert about a wallet only."""
        return self.worker_id or self.wallet or self.alert_id

    def to_json(self) -> dict[str, object]:
        """Return the contract's record."""
        return {
            "alert_id": self.alert_id,
            "kind": self.kind,
            "type": self.type,
            "severity": self.severity,
            "worker_id": self.worker_id,
            "wallet": self.wallet,
            "detected_at": format_time(self.detected_at),
            "evidence": dict(self.evidence),
            "event_ids": list(self.event_ids),
        }


def alert_from_json(rec: Mapping[str, object]) -> Alert:
    """Return the alert of a record written by `Alert.to_json` (raises on a malformed one).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> a = Alert("x", "drift", "SHARED_DEVICE", "medium", "w-1", None, t)
    >>> alert_from_json(a.to_json()) == a
    True
    """
    try:
        kind, severity = rec["kind"], rec["severity"]
        if kind not in ALERT_KINDS or severity not in SEVERITIES:
            raise InvalidEventError(
                DeadLetterReason.OUT_OF_RANGE, f"kind/severity: unknown {kind!r}/{severity!r}"
            )
        wallet = rec.get("wallet")
        worker = rec.get("worker_id")
        return Alert(
            alert_id=str(rec["alert_id"]),
            kind=kind,
            type=str(rec["type"]),
            severity=severity,
            worker_id=None if worker is None else str(worker),
            wallet=None if wallet is None else Address(str(wallet)),
            detected_at=parse_time(rec["detected_at"], "detected_at"),
            evidence=dict(cast(Mapping[str, object], rec.get("evidence") or {})),
            event_ids=tuple(str(x) for x in cast(Sequence[object], rec.get("event_ids") or ())),
        )
    except KeyError as exc:
        raise InvalidEventError(
            DeadLetterReason.MISSING_FIELD, f"{exc.args[0]}: required"
        ) from None


class AlertFinding(Protocol):
    """What a drift detector reports (`reputation.drift.Finding` has this shape)."""

    @property
    def type(self) -> str: ...  # noqa: D102

    @property
    def severity(self) -> str: ...  # noqa: D102

    @property
    def detected_at(self) -> datetime: ...  # noqa: D102

    @property
    def event_ids(self) -> tuple[str, ...]: ...  # noqa: D102

    @property
    def evidence(self) -> Mapping[str, object]: ...  # noqa: D102


def drift_alert(worker_id: str, finding: AlertFinding) -> Alert:
    """Return the drift alert of a detector's finding on one worker."""
    trigger = finding.event_ids[0] if finding.event_ids else format_time(finding.detected_at)
    severity = finding.severity if finding.severity in SEVERITIES else "medium"
    return Alert(
        alert_id=make_alert_id(finding.type, worker_id, trigger),
        kind="drift",
        type=finding.type,
        severity=severity,
        worker_id=worker_id,
        wallet=None,
        detected_at=finding.detected_at,
        evidence=dict(finding.evidence),
        event_ids=tuple(finding.event_ids),
    )


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A drift alert taken back: late events changed the evidence of the day that raised it.

    Its record on ``vigil.alerts`` repeats the alert's identity (id, type, worker,
    ``detected_at``) with ``"status": "withdrawn"`` and the reason.
    """

    alert_id: str
    type: str
    worker_id: str
    detected_at: datetime
    event_id: str
    reason: str = "late events changed the evidence of the day that raised it"

    def to_json(self) -> dict[str, object]:
        """Return the ``vigil.alerts`` record of the withdrawal."""
        return {
            "alert_id": self.alert_id,
            "kind": "drift",
            "type": self.type,
            "severity": "low",
            "worker_id": self.worker_id,
            "wallet": None,
            "detected_at": format_time(self.detected_at),
            "status": WITHDRAWN,
            "reason": self.reason,
            "evidence": {"withdrawn": self.reason},
            "event_ids": [self.event_id],
        }


def drift_withdrawal(worker_id: str, alert_type: str, event_id: str, at: datetime) -> Withdrawal:
    """Return the withdrawal of the drift alert raised by `event_id` (same id as `drift_alert`).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> w = drift_withdrawal("w-1", "QUALITY_SHIFT", "q-9", datetime(2026, 1, 1, tzinfo=UTC))
    >>> w.alert_id == make_alert_id("QUALITY_SHIFT", "w-1", "q-9"), w.to_json()["status"]
    (True, 'withdrawn')
    """
    return Withdrawal(make_alert_id(alert_type, worker_id, event_id), alert_type, worker_id, at,
                      event_id)  # fmt: skip


_MATCH_SEVERITY: dict[MatchKind, Severity] = {
    MatchKind.SANCTIONED_PAYOUT: "critical",
    MatchKind.SANCTIONED_LINKED_PAYOUT: "high",
    MatchKind.RETROACTIVE_MATCH: "high",
}


def sanctions_alert(m: PayoutMatch) -> Alert:
    """Return the sanctions alert of a payout that touches a listed address.

    ``detected_at`` is the event time of what triggered it: the payout, or for a
    retroactive match the list entry or transfer that made the wallet listed or
    linked. A retroactive match straight to a listed wallet is critical. One
    episode per worker, wallet and type: further payouts of the worker to the
    same wallet give the same ``alert_id`` and raise nothing new.
    """
    severity = _MATCH_SEVERITY[m.kind]
    if m.kind is MatchKind.RETROACTIVE_MATCH and m.path is None:
        severity = "critical"
    hops = () if m.path is None else tuple(h.event_id for h in m.path.hops)
    detected = m.matched_at if m.kind is MatchKind.RETROACTIVE_MATCH else m.paid_at
    return Alert(
        alert_id=make_alert_id(str(m.kind), m.worker_id, m.wallet),
        kind="sanctions",
        type=str(m.kind),
        severity=severity,
        worker_id=m.worker_id,
        wallet=m.wallet,
        detected_at=detected,
        evidence=m.to_json(),
        event_ids=(m.payout_event_id, *hops),
    )


def shared_alert(
    alert_type: Literal["SHARED_WALLET", "SHARED_DEVICE"],
    worker_id: str,
    shared: str,
    detected_at: datetime,
    event_ids: tuple[str, ...],
    evidence: Mapping[str, object],
    wallet: Address | None = None,
) -> Alert:
    """Return an alert that one worker shares a wallet or device with other workers."""
    return Alert(
        alert_id=make_alert_id(alert_type, worker_id, shared),
        kind="drift",
        type=alert_type,
        severity="high",
        worker_id=worker_id,
        wallet=wallet,
        detected_at=detected_at,
        evidence=dict(evidence),
        event_ids=event_ids,
    )


@dataclass(frozen=True, slots=True)
class AlertStatus:
    """Opens or closes an alert on a worker's record (``{prefix}alert-status``).

    ``resolved`` is an analyst's verdict; ``withdrawn`` is the engine taking back
    an alert whose evidence no longer holds (both close it).
    """

    alert_id: str
    worker_id: str
    type: str
    status: Literal["open", "resolved", "withdrawn"]
    at: datetime
    disposition: str | None = None
    note: str | None = None
    by: str | None = None

    def to_json(self) -> dict[str, object]:
        """Return the command's record."""
        return {
            "alert_id": self.alert_id,
            "worker_id": self.worker_id,
            "type": self.type,
            "status": self.status,
            "at": format_time(self.at),
            "disposition": self.disposition,
            "note": self.note,
            "by": self.by,
        }


def _text(obj: Mapping[str, object], name: str, max_len: int, required: bool = True) -> str | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise InvalidEventError(
            DeadLetterReason.WRONG_TYPE if value is not None else DeadLetterReason.MISSING_FIELD,
            f"{name}: must be a string of 1-{max_len} characters",
        )
    return value


def parse_alert_status(obj: Mapping[str, object]) -> AlertStatus:
    """Validate an alert-status command.

    Examples
    --------
    >>> s = parse_alert_status({"alert_id": "a1", "worker_id": "w-1", "type": "QUALITY_SHIFT",
    ...     "status": "resolved", "at": "2026-11-01T00:00:00Z", "disposition": "benign"})
    >>> s.status, s.disposition
    ('resolved', 'benign')
    >>> parse_alert_status({"alert_id": "a1", "worker_id": "w", "type": "X", "status": "gone",
    ...     "at": "2026-11-01T00:00:00Z"})
    Traceback (most recent call last):
    ...
    reputation.errors.InvalidEventError: status: must be open, resolved or withdrawn
    """
    status = obj.get("status")
    if status not in ("open", "resolved", "withdrawn"):
        raise InvalidEventError(
            DeadLetterReason.OUT_OF_RANGE, "status: must be open, resolved or withdrawn"
        )
    disposition = _text(obj, "disposition", 32, required=False)
    if disposition is not None and disposition not in DISPOSITIONS:
        raise InvalidEventError(
            DeadLetterReason.OUT_OF_RANGE,
            f"disposition: must be one of {', '.join(DISPOSITIONS)}, got {disposition!r}",
        )
    return AlertStatus(
        alert_id=cast(str, _text(obj, "alert_id", 128)),
        worker_id=cast(str, _text(obj, "worker_id", 128)),
        type=cast(str, _text(obj, "type", 64)),
        status=status,
        at=parse_time(obj.get("at"), "at"),
        disposition=disposition,
        note=_text(obj, "note", _MAX_NOTE, required=False),
        by=_text(obj, "by", 128, required=False),
    )
