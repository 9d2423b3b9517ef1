"""The pure core of Vigil: event types, the trust model, codecs and errors.

No I/O, no clock, no environment: the same input always gives the same output.
"""

from __future__ import annotations

from reputation.assess import BANDS, Band, Components, TrustRecord, assess, explain, reason_text
from reputation.codec import STATE_VERSION, state_from_record, state_to_record
from reputation.errors import ConfigError, DeadLetterReason, InvalidEventError, ReputationError
from reputation.events import (
    Address,
    Event,
    PayoutEvent,
    QualityEvent,
    SanctionEntry,
    TaskEvent,
    TransferEvent,
    WorkerEvent,
    decode_event,
    parse_address,
    parse_payout,
    parse_quality,
    parse_sanction,
    parse_task,
    parse_time,
    parse_transfer,
)
from reputation.model import TrustModel, payout_weight
from reputation.state import WorkerState, apply_event, event_key

__all__ = [
    "BANDS",
    "STATE_VERSION",
    "Address",
    "Band",
    "Components",
    "ConfigError",
    "DeadLetterReason",
    "Event",
    "InvalidEventError",
    "PayoutEvent",
    "QualityEvent",
    "ReputationError",
    "SanctionEntry",
    "TaskEvent",
    "TransferEvent",
    "TrustModel",
    "TrustRecord",
    "WorkerEvent",
    "WorkerState",
    "apply_event",
    "assess",
    "decode_event",
    "event_key",
    "explain",
    "parse_address",
    "parse_payout",
    "parse_quality",
    "parse_sanction",
    "parse_task",
    "parse_time",
    "parse_transfer",
    "payout_weight",
    "reason_text",
    "state_from_record",
    "state_to_record",
]
