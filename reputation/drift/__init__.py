"""Per-worker behavioural drift detectors: pure, order-free, bounded.

`DriftModel.update` folds one new task, quality or payout event into a worker's
`DriftState`; `DriftModel.settle`, once per batch, judges the closed days that
changed and returns the new `Finding` s and the withdrawn `Episode` s:
``ACTIVITY_HOURS_SHIFT``, ``CONTEXT_SHIFT``, ``VELOCITY_SURGE``,
``QUALITY_SHIFT`` and ``PAYOUT_WALLET_CHANGE``, each pooled from weak signals.
The alerts are a function of the set of events, not of their arrival order;
see docs/drift.md for the rules and the measurements behind the defaults.
"""

from __future__ import annotations

from reputation.drift.codec import (
    DRIFT_STATE_VERSION,
    drift_state_from_record,
    drift_state_to_record,
)
from reputation.drift.findings import DRIFT_TYPES, SEVERITIES, Finding, Severity
from reputation.drift.model import DriftModel, UnknownChannelError
from reputation.drift.state import DriftState, Episode

__all__ = [
    "DRIFT_STATE_VERSION",
    "DRIFT_TYPES",
    "SEVERITIES",
    "DriftModel",
    "DriftState",
    "Episode",
    "Finding",
    "Severity",
    "UnknownChannelError",
    "drift_state_from_record",
    "drift_state_to_record",
]
