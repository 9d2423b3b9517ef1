"""Typed input events of the contract, validated once at the edge.

Every message that crosses a process boundary has a frozen dataclass here and a
``parse_*`` function that validates a decoded JSON object. `decode_event` turns
raw bytes from a topic into an event (or raises `InvalidEventError`). Past this
module, code trusts the types.

Decoding JSON is injected (``loads``) so that the engine can use orjson while the
core stays free of third-party I/O libraries; see docs/decoding.md for the
measurement behind that choice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal, NewType, TypeAlias

from reputation.eip55 import is_valid_checksum
from reputation.errors import DeadLetterReason, InvalidEventError

__all__ = [
    "MAX_FUTURE",
    "MAX_MESSAGE_BYTES",
    "OUTCOMES",
    "TOPICS",
    "Address",
    "Event",
    "Money",
    "Outcome",
    "PayoutEvent",
    "QualityEvent",
    "SanctionEntry",
    "TaskContext",
    "TaskEvent",
    "TransferEvent",
    "WorkerEvent",
    "decode_event",
    "format_time",
    "parse_address",
    "parse_payout",
    "parse_quality",
    "parse_sanction",
    "parse_task",
    "parse_time",
    "parse_transfer",
]

Address = NewType("Address", str)
Outcome = Literal["accepted", "rejected", "late", "abandoned"]
OUTCOMES: tuple[Outcome, ...] = ("accepted", "rejected", "late", "abandoned")
TOPICS: tuple[str, ...] = ("tasks", "quality", "payouts", "transfers", "sanctions")
MAX_MESSAGE_BYTES = 64 * 1024
MAX_FUTURE = timedelta(days=1)
_MAX_ID = 128

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
_ASSET = re.compile(r"[A-Za-z0-9.\-_]{1,32}")


def _fail(reason: DeadLetterReason, field: str, what: str) -> InvalidEventError:
    return InvalidEventError(reason, f"{field}: {what}")


def _req(obj: Mapping[str, object], field: str, prefix: str = "") -> object:
    try:
        value = obj[field]
    except KeyError:
        raise _fail(DeadLetterReason.MISSING_FIELD, prefix + field, "is required") from None
    if value is None:
        raise _fail(DeadLetterReason.MISSING_FIELD, prefix + field, "is required, got null")
    return value


def _str(obj: Mapping[str, object], field: str, max_len: int = _MAX_ID) -> str:
    value = _req(obj, field)
    if not isinstance(value, str):
        raise _fail(DeadLetterReason.WRONG_TYPE, field, f"must be a string, got {_show(value)}")
    if not 1 <= len(value) <= max_len:
        raise _fail(DeadLetterReason.BAD_ID, field, f"must be 1-{max_len} characters")
    return value


def _int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(DeadLetterReason.WRONG_TYPE, field, f"must be an integer, got {_show(value)}")
    return value


def _num(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(DeadLetterReason.WRONG_TYPE, field, f"must be a number, got {_show(value)}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise _fail(DeadLetterReason.OUT_OF_RANGE, field, "must be finite")
    return number


def _show(value: object) -> str:
    return repr(value)[:60]


def parse_time(value: object, field: str = "time", now: datetime | None = None) -> datetime:
    """Parse an RFC 3339 time into a tz-aware UTC datetime.

    A time more than `MAX_FUTURE` after `now` is rejected as ``FUTURE_TIME``.

    Examples
    --------
    >>> parse_time("2026-11-01T09:40:00Z")
    datetime.datetime(2026, 11, 1, 9, 40, tzinfo=datetime.timezone.utc)
    >>> parse_time("2026-11-01T04:40:00-05:00").hour
    9
    """
    if not isinstance(value, str):
        raise _fail(
            DeadLetterReason.WRONG_TYPE, field, f"must be an RFC 3339 string, got {_show(value)}"
        )
    if not _RFC3339.fullmatch(value):
        raise _fail(
            DeadLetterReason.BAD_TIME,
            field,
            f"must be RFC 3339 with a UTC offset like 2026-11-01T09:40:00Z, got {_show(value)}",
        )
    text = value.upper().replace("Z", "+00:00")
    frac = re.search(r"\.(\d+)", text)
    if frac and len(frac.group(1)) > 6:  # Python keeps microseconds; truncate the rest
        text = text.replace(frac.group(0), "." + frac.group(1)[:6])
    try:
        parsed = datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # OverflowError: 9999-12-31T23:00:00-01:00
        raise _fail(DeadLetterReason.BAD_TIME, field, f"is not a valid date/time: {exc}") from None
    if now is not None and parsed > now + MAX_FUTURE:
        raise _fail(
            DeadLetterReason.FUTURE_TIME,
            field,
            f"{value} is more than {MAX_FUTURE} after the ingestion time {format_time(now)}",
        )
    return parsed


def format_time(t: datetime) -> str:
    """Format a tz-aware datetime as RFC 3339 UTC with a ``Z``.

    Examples
    --------
    >>> format_time(datetime(2026, 11, 1, 9, 40, tzinfo=UTC))
    '2026-11-01T09:40:00Z'
    """
    if t.tzinfo is not UTC:
        t = t.astimezone(UTC)
    # isoformat writes the same fields as "%Y-%m-%dT%H:%M:%S[.%f]" at a third of the cost
    return t.isoformat()[:-6] + "Z"  # drop "+00:00"


def parse_address(value: object, field: str = "address") -> Address:
    """Return `value` as a lower-case address or raise `InvalidEventError`.

    Mixed-case input must carry a correct EIP-55 checksum.

    Examples
    --------
    >>> parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
    '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed'
    """
    if not isinstance(value, str) or not _HEX_ADDRESS.fullmatch(value):
        raise _fail(
            DeadLetterReason.BAD_ADDRESS, field, f"must be 0x + 40 hex digits, got {_show(value)}"
        )
    if not is_valid_checksum(value):
        raise _fail(DeadLetterReason.BAD_CHECKSUM, field, f"EIP-55 checksum is wrong in {value}")
    return Address(value.lower())


def _money(value: object, field: str) -> Decimal:
    if not isinstance(value, str):
        raise _fail(
            DeadLetterReason.BAD_MONEY,
            field,
            f'must be a decimal string like "12.50", got {_show(value)}',
        )
    if not _DECIMAL.fullmatch(value):
        what = (
            "must not be negative"
            if value.startswith("-")
            else "must be a non-negative decimal string"
        )
        raise _fail(DeadLetterReason.BAD_MONEY, field, f"{what}, got {_show(value)}")
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise _fail(DeadLetterReason.BAD_MONEY, field, f"not a decimal: {_show(value)}") from None


def _asset(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise _fail(DeadLetterReason.WRONG_TYPE, field, f"must be a string, got {_show(value)}")
    if not _ASSET.fullmatch(value):
        raise _fail(
            DeadLetterReason.OUT_OF_RANGE,
            field,
            f"must be 1-32 letters, digits or .-_, got {_show(value)}",
        )
    return value


def _tx_hash(value: object, field: str) -> str:
    if not isinstance(value, str) or not _TX_HASH.fullmatch(value):
        raise _fail(
            DeadLetterReason.BAD_HASH, field, f"must be 0x + 64 hex digits, got {_show(value)}"
        )
    return value.lower()


def _obj(value: object, field: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _fail(DeadLetterReason.WRONG_TYPE, field, f"must be an object, got {_show(value)}")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of an asset; `amount` is exact."""

    amount: Decimal
    asset: str


@dataclass(frozen=True, slots=True)
class TaskContext:
    """Where and how a task was done; every field is optional."""

    utc_offset_min: int | None = None
    ip_asn: int | None = None
    country: str | None = None
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """A task completion from ``vigil.tasks``; its event time is `completed_at`."""

    event_id: str
    worker_id: str
    payer_id: str
    task_id: str
    outcome: Outcome
    assigned_at: datetime
    completed_at: datetime
    reward: Money | None = None
    context: TaskContext | None = None

    @property
    def time(self) -> datetime:
        """Event time."""
        return self.completed_at


@dataclass(frozen=True, slots=True)
class QualityEvent:
    """An output-quality score from ``vigil.quality``; its event time is `scored_at`."""

    event_id: str
    worker_id: str
    task_id: str
    scorer_id: str
    score: float
    weight: float
    scored_at: datetime

    @property
    def time(self) -> datetime:
        """Event time."""
        return self.scored_at


@dataclass(frozen=True, slots=True)
class PayoutEvent:
    """A payout to a worker's wallet from ``vigil.payouts``; its event time is `paid_at`."""

    event_id: str
    worker_id: str
    payer_id: str
    wallet: Address
    chain_id: int
    asset: str
    amount: Decimal
    tx_hash: str | None
    paid_at: datetime

    @property
    def time(self) -> datetime:
        """Event time."""
        return self.paid_at


@dataclass(frozen=True, slots=True)
class TransferEvent:
    """An on-chain transfer from ``vigil.transfers``; `amount` is in the token's smallest unit."""

    event_id: str
    chain_id: int
    block_number: int
    block_time: datetime
    tx_hash: str
    log_index: int
    token: str
    sender: Address
    recipient: Address
    amount: int
    decimals: int

    @property
    def time(self) -> datetime:
        """Event time."""
        return self.block_time

    def to_json(self) -> dict[str, object]:
        """Return the contract JSON object."""
        return {
            "event_id": self.event_id,
            "chain_id": self.chain_id,
            "block_number": self.block_number,
            "block_time": format_time(self.block_time),
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "token": self.token,
            "from": self.sender,
            "to": self.recipient,
            "amount": str(self.amount),
            "decimals": self.decimals,
        }


@dataclass(frozen=True, slots=True)
class SanctionEntry:
    """A sanctions-list entry from ``vigil.sanctions``; a later one for an address replaces it.

    A delisting carries ``delisted=True`` with `listed_at` set to the delisting
    time and `listed_since` to the original listing date, so the compacted topic
    keeps both.
    """

    address: Address
    program: str
    entity: str
    listed_at: datetime
    source: str
    delisted: bool
    listed_since: datetime | None = None

    @property
    def event_id(self) -> str:
        """Identity of this entry version (address, listing time and status)."""
        return f"{self.address}:{format_time(self.listed_at)}:{int(self.delisted)}"

    @property
    def time(self) -> datetime:
        """Event time."""
        return self.listed_at

    def to_json(self) -> dict[str, object]:
        """Return the contract JSON object (plus ``listed_since`` when known)."""
        out: dict[str, object] = {
            "address": self.address,
            "program": self.program,
            "entity": self.entity,
            "listed_at": format_time(self.listed_at),
            "source": self.source,
            "delisted": self.delisted,
        }
        if self.listed_since is not None:
            out["listed_since"] = format_time(self.listed_since)
        return out


WorkerEvent: TypeAlias = TaskEvent | QualityEvent | PayoutEvent
Event: TypeAlias = TaskEvent | QualityEvent | PayoutEvent | TransferEvent | SanctionEntry


def _optional_str(
    obj: Mapping[str, object], field: str, max_len: int = _MAX_ID, prefix: str = ""
) -> str | None:
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise _fail(
            DeadLetterReason.WRONG_TYPE, prefix + field, f"must be a 1-{max_len} character string"
        )
    return value


def _context(value: object) -> TaskContext | None:
    if value is None:
        return None
    obj = _obj(value, "context")
    offset = obj.get("utc_offset_min")
    if offset is not None:
        offset = _int(offset, "context.utc_offset_min")
        if not -14 * 60 <= offset <= 14 * 60:
            raise _fail(
                DeadLetterReason.OUT_OF_RANGE,
                "context.utc_offset_min",
                f"must be within -840..840, got {offset}",
            )
    asn = obj.get("ip_asn")
    if asn is not None:
        asn = _int(asn, "context.ip_asn")
        if not 0 <= asn < 2**32:
            raise _fail(
                DeadLetterReason.OUT_OF_RANGE,
                "context.ip_asn",
                f"must be within 0..2^32-1, got {asn}",
            )
    country = _optional_str(obj, "country", 3, "context.")
    device = _optional_str(obj, "device_id", _MAX_ID, "context.")
    return TaskContext(offset, asn, country.upper() if country else None, device)


def parse_task(obj: Mapping[str, object], *, now: datetime | None = None) -> TaskEvent:
    """Validate a ``vigil.tasks`` object.

    Examples
    --------
    >>> e = parse_task({"event_id": "t-1", "worker_id": "w-42", "payer_id": "agent-7",
    ...                 "task_id": "k-991", "outcome": "accepted",
    ...                 "assigned_at": "2026-11-01T09:00:00Z",
    ...                 "completed_at": "2026-11-01T09:40:00Z"})
    >>> e.outcome, e.completed_at.minute
    ('accepted', 40)
    """
    outcome = _req(obj, "outcome")
    if outcome not in OUTCOMES:
        raise _fail(
            DeadLetterReason.OUT_OF_RANGE, "outcome", "must be one of " + ", ".join(OUTCOMES)
        )
    assigned = parse_time(_req(obj, "assigned_at"), "assigned_at", now)
    completed = parse_time(_req(obj, "completed_at"), "completed_at", now)
    if completed < assigned:
        raise _fail(DeadLetterReason.OUT_OF_RANGE, "completed_at", "must not be before assigned_at")
    reward_obj = obj.get("reward")
    reward = None
    if reward_obj is not None:
        r = _obj(reward_obj, "reward")
        reward = Money(
            _money(_req(r, "amount", "reward."), "reward.amount"),
            _asset(_req(r, "asset", "reward."), "reward.asset"),
        )
    return TaskEvent(
        event_id=_str(obj, "event_id"),
        worker_id=_str(obj, "worker_id"),
        payer_id=_str(obj, "payer_id"),
        task_id=_str(obj, "task_id"),
        outcome=outcome,  # checked against OUTCOMES above
        assigned_at=assigned,
        completed_at=completed,
        reward=reward,
        context=_context(obj.get("context")),
    )


def parse_quality(obj: Mapping[str, object], *, now: datetime | None = None) -> QualityEvent:
    """Validate a ``vigil.quality`` object: ``score`` in 0..1, ``weight`` > 0 (default 1)."""
    score = _num(_req(obj, "score"), "score")
    if not 0.0 <= score <= 1.0:
        raise _fail(DeadLetterReason.OUT_OF_RANGE, "score", f"must be within 0..1, got {score}")
    raw_weight = obj.get("weight")
    weight = 1.0 if raw_weight is None else _num(raw_weight, "weight")
    if weight <= 0.0 or weight > 1e6:
        raise _fail(
            DeadLetterReason.OUT_OF_RANGE, "weight", f"must be > 0 and <= 1e6, got {weight}"
        )
    return QualityEvent(
        event_id=_str(obj, "event_id"),
        worker_id=_str(obj, "worker_id"),
        task_id=_str(obj, "task_id"),
        scorer_id=_str(obj, "scorer_id"),
        score=score,
        weight=weight,
        scored_at=parse_time(_req(obj, "scored_at"), "scored_at", now),
    )


def _chain_id(obj: Mapping[str, object]) -> int:
    chain_id = _int(_req(obj, "chain_id"), "chain_id")
    if chain_id <= 0:
        raise _fail(DeadLetterReason.OUT_OF_RANGE, "chain_id", f"must be > 0, got {chain_id}")
    return chain_id


def parse_payout(obj: Mapping[str, object], *, now: datetime | None = None) -> PayoutEvent:
    """Validate a ``vigil.payouts`` object; ``tx_hash`` is optional."""
    raw_hash = obj.get("tx_hash")
    return PayoutEvent(
        event_id=_str(obj, "event_id"),
        worker_id=_str(obj, "worker_id"),
        payer_id=_str(obj, "payer_id"),
        wallet=parse_address(_req(obj, "wallet"), "wallet"),
        chain_id=_chain_id(obj),
        asset=_asset(_req(obj, "asset"), "asset"),
        amount=_money(_req(obj, "amount"), "amount"),
        tx_hash=None if raw_hash is None else _tx_hash(raw_hash, "tx_hash"),
        paid_at=parse_time(_req(obj, "paid_at"), "paid_at", now),
    )


def parse_transfer(obj: Mapping[str, object], *, now: datetime | None = None) -> TransferEvent:
    """Validate a ``vigil.transfers`` object; ``token`` is an address or ``"ETH"``."""
    token_raw = _req(obj, "token")
    token = "ETH" if token_raw == "ETH" else parse_address(token_raw, "token")  # noqa: S105
    amount_raw = _req(obj, "amount")
    if not isinstance(amount_raw, str) or not amount_raw.isdigit() or not amount_raw.isascii():
        raise _fail(
            DeadLetterReason.BAD_MONEY,
            "amount",
            "must be a non-negative integer string in the token's smallest unit, "
            f"got {_show(amount_raw)}",
        )
    # uint256 at most (78 digits); checked before int(), which refuses over 4,300 digits.
    if len(amount_raw) > 78 or int(amount_raw) >= 2**256:
        raise _fail(
            DeadLetterReason.OUT_OF_RANGE,
            "amount",
            f"must fit in 256 bits, got {len(amount_raw)} digits",
        )
    decimals = _int(_req(obj, "decimals"), "decimals")
    if not 0 <= decimals <= 36:
        raise _fail(
            DeadLetterReason.OUT_OF_RANGE, "decimals", f"must be within 0..36, got {decimals}"
        )
    block_number = _int(_req(obj, "block_number"), "block_number")
    log_index = _int(_req(obj, "log_index"), "log_index")
    if block_number < 0:
        raise _fail(
            DeadLetterReason.OUT_OF_RANGE, "block_number", f"must be >= 0, got {block_number}"
        )
    return TransferEvent(
        event_id=_str(obj, "event_id"),
        chain_id=_chain_id(obj),
        block_number=block_number,
        block_time=parse_time(_req(obj, "block_time"), "block_time", now),
        tx_hash=_tx_hash(_req(obj, "tx_hash"), "tx_hash"),
        log_index=log_index,
        token=token,
        sender=parse_address(_req(obj, "from"), "from"),
        recipient=parse_address(_req(obj, "to"), "to"),
        amount=int(amount_raw),
        decimals=decimals,
    )


def parse_sanction(obj: Mapping[str, object], *, now: datetime | None = None) -> SanctionEntry:
    """Validate a ``vigil.sanctions`` object."""
    delisted = obj.get("delisted", False)
    if not isinstance(delisted, bool):
        raise _fail(
            DeadLetterReason.WRONG_TYPE, "delisted", f"must be true or false, got {_show(delisted)}"
        )
    return SanctionEntry(
        address=parse_address(_req(obj, "address"), "address"),
        program=_str(obj, "program", 256),
        entity=_str(obj, "entity", 512),
        listed_at=parse_time(_req(obj, "listed_at"), "listed_at", now),
        source=_str(obj, "source", 128),
        delisted=delisted,
        listed_since=(
            None
            if obj.get("listed_since") is None
            else parse_time(obj["listed_since"], "listed_since", now)
        ),
    )


_PARSERS: dict[str, Callable[..., Event]] = {
    "tasks": parse_task,
    "quality": parse_quality,
    "payouts": parse_payout,
    "transfers": parse_transfer,
    "sanctions": parse_sanction,
}


def decode_event(
    topic: str,
    raw: bytes,
    *,
    now: datetime | None = None,
    loads: Callable[[bytes], object] = json.loads,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> Event:
    """Decode and validate one message of an input topic (``tasks``, ``quality``, ...).

    Raises `InvalidEventError` with the reason for the dead-letter topic.

    Examples
    --------
    >>> decode_event("quality", b'{"event_id":"q-1","worker_id":"w","task_id":"k",'
    ...              b'"scorer_id":"a","score":0.9,"scored_at":"2026-11-01T10:00:00Z"}').score
    0.9
    >>> decode_event("quality", b'{"score": 2}')
    Traceback (most recent call last):
    ...
    reputation.errors.InvalidEventError: score: must be within 0..1, got 2.0
    """
    parser = _PARSERS.get(topic)
    if parser is None:
        raise InvalidEventError(
            DeadLetterReason.UNKNOWN_TOPIC,
            f"topic: must be one of {', '.join(TOPICS)}, got {topic!r}",
        )
    if len(raw) > max_bytes:
        raise InvalidEventError(
            DeadLetterReason.TOO_LARGE,
            f"message: {len(raw)} bytes is over the limit of {max_bytes}",
        )
    try:
        obj = loads(raw)
    except ValueError as exc:  # json.JSONDecodeError and orjson.JSONDecodeError are ValueErrors
        raise InvalidEventError(
            DeadLetterReason.BAD_JSON, f"message: not UTF-8 JSON ({str(exc)[:80]})"
        ) from None
    if not isinstance(obj, dict):
        raise InvalidEventError(
            DeadLetterReason.NOT_AN_OBJECT,
            f"message: must be a JSON object, got {type(obj).__name__}",
        )
    return parser(obj, now=now)
