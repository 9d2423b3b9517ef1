"""What a drift detector reports: the alert types and the `Finding` value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from reputation.errors import ConfigError

__all__ = ["DRIFT_TYPES", "SEVERITIES", "Finding", "Severity"]

#: Drift alert types of CONTRACT.md that the per-worker detectors raise.
DRIFT_TYPES: tuple[str, ...] = (
    "ACTIVITY_HOURS_SHIFT",
    "CONTEXT_SHIFT",
    "QUALITY_SHIFT",
    "VELOCITY_SURGE",
    "PAYOUT_WALLET_CHANGE",
)

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Finding:
    """A drift condition that became true with an event; the caller turns it into an alert.

    Parameters
    ----------
    type
        One of `DRIFT_TYPES`.
    severity
        ``low``, ``medium``, ``high`` or ``critical``.
    detected_at
        Event time (tz-aware UTC) of the triggering event.
    event_ids
        The triggering event's id first, then a few others involved.
    evidence
        JSON-ready mapping: before and after profiles, the statistic and its
        threshold, the days involved.

    Examples
    --------
    >>> from datetime import UTC
    >>> f = Finding("CONTEXT_SHIFT", "high", datetime(2026, 11, 1, tzinfo=UTC), ("t-9",))
    >>> f.type, f.event_ids[0]
    ('CONTEXT_SHIFT', 't-9')
    >>> Finding("NOPE", "high", datetime(2026, 11, 1, tzinfo=UTC), ("t-9",))
    Traceback (most recent call last):
    ...
    reputation.errors.ConfigError: type must be one of ACTIVITY_HOURS_SHIFT, CONTEXT_SHIFT, \
QUALITY_SHIFT, VELOCITY_SURGE, PAYOUT_WALLET_CHANGE, got 'NOPE'
    """

    type: str
    severity: Severity
    detected_at: datetime
    event_ids: tuple[str, ...]
    evidence: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in DRIFT_TYPES:
            raise ConfigError(f"type must be one of {', '.join(DRIFT_TYPES)}, got {self.type!r}")
        if self.severity not in SEVERITIES:
            raise ConfigError(
                f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}"
            )
        if self.detected_at.tzinfo is None:
            raise ConfigError("detected_at must be timezone-aware")
        if not self.event_ids:
            raise ConfigError("event_ids must name at least the triggering event")
