"""The engine's per-batch work without Kafka: decode, group by worker, apply, assess.

Both the Faust agent and ``vigil replay`` run events through `Processor`, so the
two give the same scores by construction; only where state lives differs (a
RocksDB-backed Faust table or a dict).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import orjson

from config.settings import Settings
from reputation.alerts import (
    Alert,
    AlertStatus,
    Withdrawal,
    drift_alert,
    drift_withdrawal,
    parse_alert_status,
)
from reputation.assess import TrustRecord, assess
from reputation.drift import DRIFT_TYPES, Episode, Finding
from reputation.drift.buckets import to_datetime
from reputation.errors import DeadLetterReason, InvalidEventError
from reputation.events import Event, PayoutEvent, QualityEvent, TaskEvent, WorkerEvent, decode_event
from reputation.identity import (
    AttributeClaim,
    DeviceFact,
    IdentityEvent,
    Verdict,
    decode_identity,
    redact_payload,
)
from reputation.state import WorkerState, fold_events, set_alert
from streams.links import DeviceSighting

__all__ = [
    "ALERT_STATUS",
    "Applied",
    "Clock",
    "DeadLetter",
    "Decoded",
    "Processor",
    "system_clock",
]

#: Short name of the internal topic of alert-status commands (keyed by worker id).
ALERT_STATUS = "alert-status"
#: Short name of the identity topic: its raw values never leave decoding.
IDENTITY = "identity"
#: What `Processor` applies to a worker's state.
WORKER_TYPES = (TaskEvent, QualityEvent, PayoutEvent, AttributeClaim, DeviceFact, Verdict)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: Most bytes of the raw message a dead letter shows (as a JSON string, escapes included).
PAYLOAD_PREVIEW_BYTES = 4096
#: Most characters of a dead letter's error text.
ERROR_MAX_CHARS = 1024
#: No dead-letter record is longer than this (preview, error, topic name and fixed fields).
DEAD_LETTER_MAX_BYTES = 8 * 1024


def payload_preview(raw: bytes, limit: int = PAYLOAD_PREVIEW_BYTES) -> str:
    r"""Return the longest text prefix of `raw` whose JSON string takes at most `limit` bytes.

    Invalid UTF-8 shows as U+FFFD; control characters count as their JSON escapes.

    Examples
    --------
    >>> payload_preview(b'{"a": 1}')
    '{"a": 1}'
    >>> len(orjson.dumps(payload_preview(b"\x00" * 10_000))) <= 4096
    True
    """
    text = raw[:limit].decode("utf-8", errors="replace")
    if len(orjson.dumps(text)) <= limit:
        return text
    lo, hi = 0, len(text)  # the longest prefix that fits lies in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if len(orjson.dumps(text[:mid])) <= limit:
            lo = mid
        else:
            hi = mid
    return text[:lo]


def system_clock() -> datetime:
    """Wall-clock time in UTC; only used to reject events dated too far ahead."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected input message and why; `to_json` is the ``vigil.deadletters`` record."""

    source_topic: str
    partition: int | None
    offset: int | None
    reason: str
    error: str
    raw: bytes
    #: What the record shows instead of the raw message (identity: values redacted).
    preview: bytes | None = None

    def to_json(self) -> dict[str, object]:
        """Return the dead-letter record, at most `DEAD_LETTER_MAX_BYTES` long as JSON.

        The contract's fields (the payload a preview of at most 4 KiB), plus the
        size and SHA-256 of the whole message, which stays findable in its
        topic at `partition` and `offset`: a dead letter never carries the whole
        message, so a big one cannot make a record over the producer's limit.
        """
        return {
            "source_topic": self.source_topic[:256],
            "partition": self.partition,
            "offset": self.offset,
            "reason": self.reason[:64],
            "error": payload_preview(self.error.encode(), ERROR_MAX_CHARS),
            "payload": payload_preview(self.raw if self.preview is None else self.preview),
            "payload_bytes": len(self.raw),
            "payload_sha256": hashlib.sha256(self.raw).hexdigest(),
        }


@dataclass(frozen=True, slots=True)
class Decoded:
    """A valid event with the short name of the topic it came from, and where it was read.

    ``topic``, ``partition``, ``offset`` and ``raw`` say where the message came
    from, for a dead letter of a valid event that cannot be applied (``TOO_LATE``).
    """

    kind: str
    event: Event | IdentityEvent | AlertStatus
    topic: str = ""
    partition: int | None = None
    offset: int | None = None
    raw: bytes = b""

    def too_late(self, horizon: float) -> DeadLetter:
        """Return the dead letter of this event refused as older than `horizon`."""
        e = self.event
        at = e.at if isinstance(e, AlertStatus) else e.time
        detail = (
            f"event time {at.isoformat()} is before the worker's dedup horizon "
            f"{to_datetime(int(horizon * 1e6)).isoformat()}: it cannot be checked for a "
            "duplicate, so it is not applied (VIGIL_DEDUP_HORIZON_DAYS, VIGIL_DEDUP_MAX_IDS)"
        )
        preview = (
            orjson.dumps(e.to_json())
            if isinstance(e, AttributeClaim | DeviceFact | Verdict)  # hashed: no raw value
            else None
        )
        reason = str(DeadLetterReason.TOO_LATE)
        return DeadLetter(
            self.topic, self.partition, self.offset, reason, detail, self.raw, preview
        )


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of applying one worker's events of a batch (counts by topic short name)."""

    state: WorkerState
    applied: dict[str, int]
    duplicates: dict[str, int]
    payouts: list[PayoutEvent] = field(default_factory=list)
    devices: list[DeviceSighting] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    statuses: int = 0
    withdrawn: list[Withdrawal] = field(default_factory=list)
    #: Events refused as older than the worker's dedup horizon (``TOO_LATE``).
    too_late: list[DeadLetter] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether any event or alert-status command changed the state."""
        return bool(self.applied) or self.statuses > 0


class Processor:
    """Decodes raw messages and applies worker events; holds no state of its own."""

    def __init__(self, settings: Settings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.model = settings.model
        self._clock = clock
        self._prefix = settings.kafka.topic_prefix

    def kind_of(self, topic: str) -> str:
        """Return the contract's short name of a full topic name (``vigil.tasks`` -> ``tasks``)."""
        return topic[len(self._prefix) :] if topic.startswith(self._prefix) else topic

    def decode(
        self, topic: str, raw: bytes | None, partition: int | None = None, offset: int | None = None
    ) -> Decoded | DeadLetter:
        """Decode one message; an invalid one comes back as a `DeadLetter`, never an exception.

        What validation rejects carries its `DeadLetterReason`; any other
        exception on the way (a bug, or a limit of the runtime) is an
        ``UNDECODABLE`` dead letter naming it, so one message can never stop
        the agent or ``vigil replay`` and hold up the messages after it.
        """
        data = raw if raw is not None else b""
        try:
            return self._decode(topic, data, partition, offset)
        except Exception as exc:  # any failure is this message's, not the engine's
            log.warning(
                "%s[%s]@%s: decoding raised %s", topic, partition, offset, type(exc).__name__
            )
            reason = str(DeadLetterReason.UNDECODABLE)
            if self.kind_of(topic) == IDENTITY:  # the exception's text may quote a value
                detail = f"message: cannot be decoded ({type(exc).__name__})"
                return DeadLetter(
                    topic,
                    partition,
                    offset,
                    reason,
                    detail,
                    data,
                    redact_payload(data, orjson.loads),
                )
            detail = f"message: cannot be decoded ({type(exc).__name__}: {str(exc)[:200]})"
            return DeadLetter(topic, partition, offset, reason, detail, data)

    def _decode(
        self, topic: str, data: bytes, partition: int | None, offset: int | None
    ) -> Decoded | DeadLetter:
        kind = self.kind_of(topic)
        if kind == ALERT_STATUS:
            return self._decode_status(topic, data, partition, offset)
        if kind == IDENTITY:
            return self._decode_identity(topic, data, partition, offset)
        try:
            event = decode_event(
                kind,
                data,
                now=self._clock(),
                loads=orjson.loads,
                max_bytes=self.settings.engine.max_message_bytes,
            )
        except InvalidEventError as exc:
            return DeadLetter(topic, partition, offset, str(exc.reason), exc.detail, data)
        return Decoded(kind, event, topic, partition, offset, data)

    def _decode_identity(
        self, topic: str, data: bytes, partition: int | None, offset: int | None
    ) -> Decoded | DeadLetter:
        """Decode, validate and hash an identity message: past here only hashes exist."""
        try:
            event = decode_identity(
                data,
                self.settings.identity_keys,
                now=self._clock(),
                loads=orjson.loads,
                max_bytes=self.settings.engine.max_message_bytes,
            )
        except InvalidEventError as exc:  # its text never shows a value (reputation.identity)
            preview = redact_payload(data, orjson.loads)
            return DeadLetter(topic, partition, offset, str(exc.reason), exc.detail, data, preview)
        # A dead letter of it shows the hashed event (`Decoded.too_late`), never these bytes.
        return Decoded(IDENTITY, event, topic, partition, offset, data)

    def _decode_status(
        self, topic: str, data: bytes, partition: int | None, offset: int | None
    ) -> Decoded | DeadLetter:
        limit = self.settings.engine.max_message_bytes
        try:
            if len(data) > limit:
                raise InvalidEventError(
                    DeadLetterReason.TOO_LARGE,
                    f"message: {len(data)} bytes is over the limit of {limit}",
                )
            obj = orjson.loads(data)
            if not isinstance(obj, dict):
                raise InvalidEventError(
                    DeadLetterReason.NOT_AN_OBJECT, "message: must be a JSON object"
                )
            status = parse_alert_status(obj)
        except orjson.JSONDecodeError as exc:
            return DeadLetter(topic, partition, offset, "BAD_JSON", f"message: {exc}", data)
        except InvalidEventError as exc:
            return DeadLetter(topic, partition, offset, str(exc.reason), exc.detail, data)
        return Decoded(ALERT_STATUS, status, topic, partition, offset, data)

    def apply(self, state: WorkerState, items: Iterable[Decoded]) -> Applied:
        """Apply a worker's events and alert-status commands in order.

        Duplicates leave the state as it was. Returns, besides the state, the
        newly applied payouts and first device sightings (for the wallet side)
        and the new alerts of this worker.
        """
        batch: list[tuple[str, WorkerEvent | IdentityEvent]] = []
        sources: list[Decoded] = []
        statuses: list[AlertStatus] = []
        for item in items:
            if isinstance(item.event, AlertStatus):
                statuses.append(item.event)
            elif isinstance(item.event, WORKER_TYPES):
                batch.append((item.kind, item.event))
                sources.append(item)
        folded = fold_events(self.model, state, batch, self.settings.drift, self.settings.dedup)
        state = folded.state
        applied: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        payouts: list[PayoutEvent] = []
        late = dict(folded.late)
        too_late = [sources[i].too_late(horizon) for i, horizon in folded.late]
        for i, ((kind, event), is_new) in enumerate(zip(batch, folded.new, strict=True)):
            if i in late:
                continue
            counts = applied if is_new else duplicates
            counts[kind] = counts.get(kind, 0) + 1
            if is_new and isinstance(event, PayoutEvent):
                payouts.append(event)
        devices = [
            DeviceSighting(state.worker_id, device, datetime.fromtimestamp(t, UTC), event_id)
            for device, t, event_id in folded.devices
        ]
        alerts: list[Alert] = []
        withdrawn: list[Withdrawal] = []
        state = _raise(state, folded.findings, folded.withdrawn, alerts, withdrawn)
        changed_by_status = 0
        drift = self.settings.drift
        for cmd in statuses:
            new = set_alert(state, cmd.alert_id, cmd.type, cmd.status == "open")
            if new is not state and cmd.status == "resolved" and cmd.type in DRIFT_TYPES:
                # The analyst has judged it: what was seen so far is the new normal.
                new = replace(new, drift=drift.rebaseline(new.drift, cmd.type, cmd.at))
            changed_by_status += new is not state
            state = new
        if changed_by_status and state.drift.dirty is not None:
            settled, found, gone = drift.settle(state.drift)
            state = _raise(replace(state, drift=settled), found, gone, alerts, withdrawn)
        return Applied(
            state,
            applied,
            duplicates,
            payouts,
            devices,
            alerts,
            changed_by_status,
            withdrawn,
            too_late,
        )

    def record(self, state: WorkerState, at: datetime | None = None) -> TrustRecord:
        """Return the worker's trust record (at its latest event time by default)."""
        return assess(self.model, state, at)


def _raise(
    state: WorkerState,
    findings: Iterable[Finding],
    gone: Iterable[Episode],
    alerts: list[Alert],
    withdrawn: list[Withdrawal],
) -> WorkerState:
    """Close the withdrawn drift alerts on the worker, then open the new ones."""
    for ep in gone:
        w = drift_withdrawal(state.worker_id, ep.type, ep.event_id, to_datetime(ep.ts_us))
        state = set_alert(state, w.alert_id, w.type, False)
        withdrawn.append(w)
    for finding in findings:
        alert = drift_alert(state.worker_id, finding)
        state = set_alert(state, alert.alert_id, alert.type, True)
        alerts.append(alert)
    return state


def group_by_worker(items: Iterable[Decoded]) -> Iterator[tuple[str, list[Decoded]]]:
    """Group worker events (and alert-status commands) by worker id, keeping arrival order."""
    groups: dict[str, list[Decoded]] = {}
    for item in items:
        event = item.event
        if isinstance(event, (*WORKER_TYPES, AlertStatus)):
            groups.setdefault(event.worker_id, []).append(item)
    yield from groups.items()
