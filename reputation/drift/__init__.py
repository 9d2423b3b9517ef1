"""Per-worker behavioural drift detectors: pure, order-free, bounded.

`DriftModel.update` folds one new task, quality or payout event into a worker's
`DriftState` and returns the `Finding` s whose condition became true with it:
``ACTIVITY_HOURS_SHIFT``, ``CONTEXT_SHIFT``, ``VELOCITY_SURGE`` (tasks),
``QUALITY_SHIFT`` (quality) and ``PAYOUT_WALLET_CHANGE`` (a novel wallet paired
in event time with a novel device). Statistics are built from per-day buckets
that do not depend on arrival order; see docs/drift.md for the measurements
behind the defaults.
"""

from __future__ import annotations

from reputation.drift.codec import (
    DRIFT_STATE_VERSION,
    drift_state_from_record,
    drift_state_to_record,
)
from reputation.drift.findings import DRIFT_TYPES, SEVERITIES, Finding, Severity
from reputation.drift.model import DriftModel, UnknownChannelError
from reputation.drift.state import DriftState

__all__ = [
    "DRIFT_STATE_VERSION",
    "DRIFT_TYPES",
    "SEVERITIES",
    "DriftModel",
    "DriftState",
    "Finding",
    "Severity",
    "UnknownChannelError",
    "drift_state_from_record",
    "drift_state_to_record",
]
