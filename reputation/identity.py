"""Identity signals of ``vigil.identity``: validation, normalisation, keyed hashing, state.

What hiring, HR and IT know about a worker arrives in three kinds: attribute
claims (phone, email, postal or shipping address, bank account, résumé or
reference fingerprint), device facts (a laptop shipped, a remote-access tool or
an IP-KVM seen, a sign-in device) and verification verdicts (liveness, deepfake,
document, background, interview; pass, fail or inconclusive).

A raw attribute value lives only inside `parse_identity`: it is normalised
(`normalise`) and turned into keyed hashes (`IdentityKeys.hashes`,
HMAC-SHA-256, one per configured key, newest first, each prefixed with its key
id) before anything else sees it. The events this module returns, the state it
keeps and every error message it raises hold hashes only; error messages never
echo a field's value, and `redact_payload` is the preview of a rejected message
that may be shown (a dead letter).

`IdentityState` is the per-worker memory: each distinct hashed value with the
earliest claim of it, device facts and verdicts over time. Folding is a set
union keyed by event id with caps that keep the earliest and the latest items,
so the state after a set of events is the same whatever their order, batching
or redelivery.
"""

from __future__ import annotations

import hmac
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Literal, TypeAlias, TypeVar

import phonenumbers

from reputation.errors import ConfigError, DeadLetterReason, InvalidEventError
from reputation.events import MAX_MESSAGE_BYTES, format_time, parse_time

__all__ = [
    "ATTRIBUTES",
    "CHECKS",
    "DEVICE_SIGNALS",
    "RESULTS",
    "SAFE_FIELDS",
    "AttributeClaim",
    "AttributeSeen",
    "DeviceFact",
    "IdentityEvent",
    "IdentityKeys",
    "IdentityState",
    "Verdict",
    "add_identity",
    "decode_identity",
    "fold_identity",
    "identity_summary",
    "normalise",
    "parse_identity",
    "parse_identity_keys",
    "redact_payload",
]

Attribute = Literal[
    "phone",
    "email",
    "postal_address",
    "shipping_address",
    "bank_account",
    "resume",
    "reference_contact",
]
ATTRIBUTES: tuple[Attribute, ...] = (
    "phone",
    "email",
    "postal_address",
    "shipping_address",
    "bank_account",
    "resume",
    "reference_contact",
)
Signal = Literal["laptop_shipped", "remote_access_tool", "ip_kvm", "sign_in_device"]
DEVICE_SIGNALS: tuple[Signal, ...] = (
    "laptop_shipped",
    "remote_access_tool",
    "ip_kvm",
    "sign_in_device",
)
Check = Literal["liveness", "deepfake", "document", "background", "interview"]
CHECKS: tuple[Check, ...] = ("liveness", "deepfake", "document", "background", "interview")
Result = Literal["pass", "fail", "inconclusive"]
RESULTS: tuple[Result, ...] = ("pass", "fail", "inconclusive")
_KINDS = ("attribute", "device", "verification")

#: Fields of an identity message that never carry a personal value; a dead letter's
#: preview keeps these (when they are short scalars) and redacts everything else.
SAFE_FIELDS = frozenset(
    {
        "event_id",
        "worker_id",
        "observed_at",
        "source",
        "kind",
        "attribute",
        "value_hash",
        "country",
        "voip",
        "signal",
        "device_id",
        "detail",
        "check",
        "result",
        "score",
    }
)
REDACTED = "[redacted]"

#: Device facts and verdicts remembered per worker: the earliest and the latest.
KEEP_FIRST, KEEP_LAST = 8, 56

_MAX_ID = 128
_MAX_VALUE = 1024
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_HASH = re.compile(r"[A-Za-z0-9_-]{1,32}:[0-9a-f]{64}")
_MIN_SECRET = 16
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
#: The usual words of an address and their short forms (whole words only).
ADDRESS_WORDS: Mapping[str, str] = {
    "street": "st",
    "avenue": "ave",
    "road": "rd",
    "apartment": "apt",
    "suite": "ste",
    "floor": "fl",
}


def _fail(reason: DeadLetterReason, field_name: str, what: str) -> InvalidEventError:
    return InvalidEventError(reason, f"{field_name}: {what}")


# --- keys and hashes ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdentityKeys:
    """The HMAC keys of identity values, newest first (``VIGIL_IDENTITY_KEYS``).

    A value is hashed under every key, so during a rotation (new key first, the
    old one still listed) a value claimed before and after it links up; once
    the old key is dropped, only the new hash is made. Secrets never appear in
    ``repr``.
    """

    keys: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for key_id, secret in self.keys:
            if not _KEY_ID.fullmatch(key_id):
                raise ConfigError(
                    "VIGIL_IDENTITY_KEYS: a key id must be 1-32 letters, digits, _ or -"
                )
            if key_id in seen:
                raise ConfigError(f"VIGIL_IDENTITY_KEYS: key id {key_id!r} is listed twice")
            if len(secret) < _MIN_SECRET:
                raise ConfigError(
                    f"VIGIL_IDENTITY_KEYS: the secret of key {key_id!r} must be at least "
                    f"{_MIN_SECRET} bytes"
                )
            seen.add(key_id)

    @property
    def ids(self) -> tuple[str, ...]:
        """The key ids, newest first."""
        return tuple(key_id for key_id, _ in self.keys)

    def hashes(self, normalised: str) -> tuple[str, ...]:
        """Return ``key_id:hex`` HMAC-SHA-256 hashes of a normalised value, newest key first.

        Examples
        --------
        >>> keys = IdentityKeys((("k2", b"0123456789abcdef"), ("k1", b"fedcba9876543210")))
        >>> [h.split(":")[0] for h in keys.hashes("+14155550100")]
        ['k2', 'k1']
        >>> len(keys.hashes("+14155550100")[0])
        67
        """
        data = normalised.encode()
        return tuple(
            f"{key_id}:{hmac.new(secret, data, sha256).hexdigest()}" for key_id, secret in self.keys
        )


def parse_identity_keys(raw: str) -> IdentityKeys:
    """Parse ``id:secret,id:secret`` (newest first) into `IdentityKeys`.

    Examples
    --------
    >>> parse_identity_keys("k2:0123456789abcdef, k1:fedcba9876543210").ids
    ('k2', 'k1')
    >>> parse_identity_keys("").ids
    ()
    """
    keys: list[tuple[str, bytes]] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key_id, sep, secret = part.partition(":")
        if not sep:
            raise ConfigError("VIGIL_IDENTITY_KEYS: each entry must be id:secret")
        keys.append((key_id.strip(), secret.strip().encode()))
    return IdentityKeys(tuple(keys))


# --- normalisation -----------------------------------------------------------------------


def normalise(attribute: str, value: str, country: str | None = None) -> str:
    """Return the canonical form of an identity value (the contract's rules).

    Phones become E.164 (`country` is the region of a number written without
    ``+``), emails are trimmed and lower-cased, postal and shipping addresses
    lower-cased with punctuation and runs of spaces removed and the usual
    words shortened, the rest trimmed and lower-cased. Raises `ValueError`
    (whose text never shows the value) when the value cannot be normalised.

    Examples
    --------
    >>> normalise("phone", "+1 (415) 555-0100")
    '+14155550100'
    >>> normalise("phone", "(415) 555-0100", "US")
    '+14155550100'
    >>> normalise("email", "  Ann.Lee@Example.COM ")
    'ann.lee@example.com'
    >>> normalise("postal_address", "12 Main Street,  Apartment 4B;  Springfield")
    '12 main st apt 4b springfield'
    >>> normalise("bank_account", " DE89 3704 ")
    'de89 3704'
    """
    if attribute == "phone":
        return _phone(value, country)
    if attribute == "email":
        email = value.strip().lower()
        if not _EMAIL.fullmatch(email):
            raise ValueError("not an email address (one @, no spaces)")
        return email
    if attribute in ("postal_address", "shipping_address"):
        return _address(value)
    text = value.strip().lower()
    if not text:
        raise ValueError("empty once trimmed")
    return text


def _phone(value: str, country: str | None) -> str:
    text = value.strip()
    if not text.startswith("+") and country is None:
        raise ValueError("a phone number without + needs country (its region)")
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else country)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("not a possible phone number for its region")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _address(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).lower()
    # Punctuation goes (as a word break, so "St.,Springfield" keeps two words).
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    words = [ADDRESS_WORDS.get(w, w) for w in text.split()]
    if not words:
        raise ValueError("empty once punctuation and spaces are removed")
    return " ".join(words)


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttributeClaim:
    """An identity attribute, as keyed hashes of its normalised value (newest key first)."""

    event_id: str
    worker_id: str
    observed_at: datetime
    source: str
    attribute: Attribute
    hashes: tuple[str, ...]
    voip: bool | None = None

    @property
    def time(self) -> datetime:
        """Event time."""
        return self.observed_at

    def to_json(self) -> dict[str, object]:
        """Return the contract object with the hash in place of any raw value."""
        out = _head(self, "attribute")
        out.update(attribute=self.attribute, value_hash=self.hashes[0])
        if len(self.hashes) > 1:
            out["value_hashes"] = list(self.hashes)
        if self.voip is not None:
            out["voip"] = self.voip
        return out


@dataclass(frozen=True, slots=True)
class DeviceFact:
    """A device or session fact; `hashes` is the shipping address of a shipped laptop."""

    event_id: str
    worker_id: str
    observed_at: datetime
    source: str
    signal: Signal
    device_id: str | None = None
    detail: str | None = None
    hashes: tuple[str, ...] = ()

    @property
    def time(self) -> datetime:
        """Event time."""
        return self.observed_at

    def to_json(self) -> dict[str, object]:
        """Return the contract object with the hash in place of any raw value."""
        out = _head(self, "device")
        out["signal"] = self.signal
        if self.device_id is not None:
            out["device_id"] = self.device_id
        if self.detail is not None:
            out["detail"] = self.detail
        if self.hashes:
            out["value_hash"] = self.hashes[0]
            if len(self.hashes) > 1:
                out["value_hashes"] = list(self.hashes)
        return out


@dataclass(frozen=True, slots=True)
class Verdict:
    """A verification verdict of a vendor (kept as evidence, not re-judged)."""

    event_id: str
    worker_id: str
    observed_at: datetime
    source: str
    check: Check
    result: Result
    score: float | None = None

    @property
    def time(self) -> datetime:
        """Event time."""
        return self.observed_at

    def to_json(self) -> dict[str, object]:
        """Return the contract object."""
        out = _head(self, "verification")
        out.update(check=self.check, result=self.result)
        if self.score is not None:
            out["score"] = self.score
        return out


IdentityEvent: TypeAlias = AttributeClaim | DeviceFact | Verdict


def _head(e: IdentityEvent, kind: str) -> dict[str, object]:
    return {
        "event_id": e.event_id,
        "worker_id": e.worker_id,
        "observed_at": format_time(e.observed_at),
        "source": e.source,
        "kind": kind,
    }


# --- parsing (no error text ever shows a value) ------------------------------------------


def _get(obj: Mapping[str, object], name: str) -> object:
    value = obj.get(name)
    if value is None:
        raise _fail(DeadLetterReason.MISSING_FIELD, name, "is required")
    return value


def _text(obj: Mapping[str, object], name: str, max_len: int = _MAX_ID) -> str:
    value = _get(obj, name)
    if not isinstance(value, str):
        raise _fail(DeadLetterReason.WRONG_TYPE, name, f"must be a string, not {_type(value)}")
    if not 1 <= len(value) <= max_len:
        raise _fail(DeadLetterReason.BAD_ID, name, f"must be 1-{max_len} characters")
    return value


def _opt_text(obj: Mapping[str, object], name: str, max_len: int = _MAX_ID) -> str | None:
    return None if obj.get(name) is None else _text(obj, name, max_len)


def _choice(obj: Mapping[str, object], name: str, allowed: tuple[str, ...]) -> str:
    value = _get(obj, name)
    if value not in allowed:
        raise _fail(DeadLetterReason.OUT_OF_RANGE, name, "must be one of " + ", ".join(allowed))
    assert isinstance(value, str)  # noqa: S101 - every allowed value is a string
    return value


def _type(value: object) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list"}.get(
        type(value), "an object" if isinstance(value, dict) else "another type"
    )


def _time(obj: Mapping[str, object], now: datetime | None) -> datetime:
    value = _get(obj, "observed_at")
    try:
        return parse_time(value, "observed_at", now)
    except InvalidEventError as exc:  # its text may quote the value; say what was wrong
        what = {
            DeadLetterReason.FUTURE_TIME: "is more than a day after the ingestion time",
            DeadLetterReason.WRONG_TYPE: "must be an RFC 3339 string",
        }.get(exc.reason, "must be an RFC 3339 time with a UTC offset like 2026-11-01T09:40:00Z")
        raise _fail(exc.reason, "observed_at", what) from None


def _hashes(
    obj: Mapping[str, object],
    attribute: str,
    keys: IdentityKeys | None,
    *,
    required: bool,
) -> tuple[str, ...]:
    value, given = obj.get("value"), obj.get("value_hash")
    if value is not None and given is not None:
        raise _fail(DeadLetterReason.OUT_OF_RANGE, "value", "give value or value_hash, not both")
    if given is not None:
        if not isinstance(given, str) or not _HASH.fullmatch(given):
            raise _fail(
                DeadLetterReason.BAD_HASH,
                "value_hash",
                "must be key_id:64 lower-case hex digits (HMAC-SHA-256 of the normalised value)",
            )
        return (given,)  # already normalised and keyed-hashed by the sender: kept as is
    if value is None:
        if required:
            raise _fail(DeadLetterReason.MISSING_FIELD, "value", "value or value_hash is required")
        return ()
    if not isinstance(value, str):
        raise _fail(DeadLetterReason.WRONG_TYPE, "value", f"must be a string, not {_type(value)}")
    if not 1 <= len(value) <= _MAX_VALUE:
        raise _fail(DeadLetterReason.OUT_OF_RANGE, "value", f"must be 1-{_MAX_VALUE} characters")
    country = obj.get("country")
    if country is not None and (not isinstance(country, str) or not _COUNTRY.fullmatch(country)):
        raise _fail(DeadLetterReason.OUT_OF_RANGE, "country", "must be a two-letter region code")
    try:
        normalised = normalise(attribute, value, None if country is None else country.upper())
    except ValueError as exc:  # the text names the rule, never the value
        raise _fail(DeadLetterReason.BAD_IDENTITY_VALUE, "value", f"{attribute}: {exc}") from None
    if keys is None or not keys.keys:
        raise _fail(
            DeadLetterReason.NO_IDENTITY_KEY,
            "value",
            "raw values need VIGIL_IDENTITY_KEYS to be hashed; none is configured",
        )
    return keys.hashes(normalised)


def parse_identity(
    obj: Mapping[str, object], keys: IdentityKeys | None, *, now: datetime | None = None
) -> IdentityEvent:
    """Validate a ``vigil.identity`` object and hash its value at once.

    Examples
    --------
    >>> keys = IdentityKeys((("k1", b"0123456789abcdef"),))
    >>> e = parse_identity({"event_id": "i-1", "worker_id": "w-42", "source": "hr",
    ...                     "observed_at": "2026-11-01T09:00:00Z", "kind": "attribute",
    ...                     "attribute": "phone", "value": "+1 (415) 555-0100"}, keys)
    >>> e.attribute, e.hashes == keys.hashes("+14155550100")
    ('phone', True)
    >>> parse_identity({**e.to_json(), "attribute": "fax"}, keys)
    Traceback (most recent call last):
    ...
    reputation.errors.InvalidEventError: attribute: must be one of phone, email, ...
    """
    kind = _choice(obj, "kind", _KINDS)
    event_id, worker_id = _text(obj, "event_id"), _text(obj, "worker_id")
    observed_at, source = _time(obj, now), _text(obj, "source", 256)
    if kind == "attribute":
        attribute: Attribute = _choice(obj, "attribute", ATTRIBUTES)  # type: ignore[assignment]
        voip = obj.get("voip")
        if voip is not None and not isinstance(voip, bool):
            raise _fail(DeadLetterReason.WRONG_TYPE, "voip", "must be true or false")
        hashes = _hashes(obj, attribute, keys, required=True)
        return AttributeClaim(event_id, worker_id, observed_at, source, attribute, hashes, voip)
    if kind == "device":
        signal: Signal = _choice(obj, "signal", DEVICE_SIGNALS)  # type: ignore[assignment]
        device_id = _opt_text(obj, "device_id")
        if signal == "sign_in_device" and device_id is None:
            raise _fail(
                DeadLetterReason.MISSING_FIELD, "device_id", "is required for sign_in_device"
            )
        detail = _opt_text(obj, "detail", 128)
        hashes = (
            _hashes(obj, "shipping_address", keys, required=False)
            if signal == "laptop_shipped"
            else ()
        )
        return DeviceFact(
            event_id, worker_id, observed_at, source, signal, device_id, detail, hashes
        )
    check: Check = _choice(obj, "check", CHECKS)  # type: ignore[assignment]
    result: Result = _choice(obj, "result", RESULTS)  # type: ignore[assignment]
    raw_score = obj.get("score")
    score: float | None = None
    if raw_score is not None:
        if isinstance(raw_score, bool) or not isinstance(raw_score, int | float):
            raise _fail(DeadLetterReason.WRONG_TYPE, "score", "must be a number")
        score = float(raw_score)
        if not 0.0 <= score <= 1.0:  # NaN fails this too
            raise _fail(DeadLetterReason.OUT_OF_RANGE, "score", "must be within 0..1")
    return Verdict(event_id, worker_id, observed_at, source, check, result, score)


def decode_identity(
    raw: bytes,
    keys: IdentityKeys | None,
    *,
    now: datetime | None = None,
    loads: Callable[[bytes], object] = json.loads,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> IdentityEvent:
    """Decode and validate one ``vigil.identity`` message (see `parse_identity`)."""
    if len(raw) > max_bytes:
        raise InvalidEventError(
            DeadLetterReason.TOO_LARGE,
            f"message: {len(raw)} bytes is over the limit of {max_bytes}",
        )
    try:
        obj = loads(raw)
    except ValueError:  # the decoder's text may quote the message: not shown
        raise InvalidEventError(DeadLetterReason.BAD_JSON, "message: not UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise InvalidEventError(DeadLetterReason.NOT_AN_OBJECT, "message: must be a JSON object")
    return parse_identity(obj, keys, now=now)


def redact_payload(raw: bytes, loads: Callable[[bytes], object] = json.loads) -> bytes:
    """Return what a dead letter may show of an identity message: safe fields only.

    Fields in `SAFE_FIELDS` stay when they are short scalars, else they show
    ``"[redacted]"``; ``value`` always shows ``"[redacted]"``; any other field
    is left out (its name could be a value too) and counted in
    ``redacted_fields``. A message that is not a JSON object shows only its size.

    Examples
    --------
    >>> redact_payload(b'{"event_id": "i-1", "value": "+1 415 555 0100", "x": {"a": 1}}')
    b'{"event_id": "i-1", "value": "[redacted]", "redacted_fields": 1}'
    >>> redact_payload(b'{"value": "+1 415')
    b'"[redacted: 17 bytes, not a JSON object]"'
    """
    try:
        obj = loads(raw)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        return json.dumps(f"[redacted: {len(raw)} bytes, not a JSON object]").encode()
    out: dict[str, object] = {}
    others = 0
    for name, value in obj.items():
        if name in SAFE_FIELDS:
            safe = (
                value is None
                or isinstance(value, bool | int | float)
                or (isinstance(value, str) and len(value) <= 256)
            )
            if name == "country" and isinstance(value, str):  # a region code, or not shown
                safe = bool(_COUNTRY.fullmatch(value))
            out[name] = value if safe else REDACTED
        elif name == "value":
            out[name] = REDACTED
        else:
            others += 1
    if others:
        out["redacted_fields"] = others
    return json.dumps(out, ensure_ascii=False).encode()


# --- per-worker state --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttributeSeen:
    """One distinct hashed value of a worker: its earliest claim and what the claims said."""

    attribute: str
    hashes: tuple[str, ...]
    first_seen: float
    event_id: str
    voip: bool = False
    sources: tuple[str, ...] = ()


#: A device fact as kept: (time, event_id, signal, device_id, detail, address hash, source).
DeviceSeen = tuple[float, str, str, str | None, str | None, str | None, str]
#: A verdict as kept: (time, event_id, check, result, score, source).
VerdictSeen = tuple[float, str, str, str, float | None, str]
_Row = TypeVar("_Row", DeviceSeen, VerdictSeen)
_MAX_SOURCES = 8


@dataclass(frozen=True, slots=True)
class IdentityState:
    """A worker's identity evidence: hashes, device facts and verdicts, never raw values.

    ``values`` maps (attribute, hash under the newest key) to `AttributeSeen`;
    ``devices`` and ``verdicts`` are sorted by time and event id.
    """

    values: Mapping[tuple[str, str], AttributeSeen] = field(default_factory=dict)
    devices: tuple[DeviceSeen, ...] = ()
    verdicts: tuple[VerdictSeen, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing is known."""
        return not self.values and not self.devices and not self.verdicts


def _bounded(rows: Iterable[_Row]) -> tuple[_Row, ...]:
    """Keep the `KEEP_FIRST` earliest and `KEEP_LAST` latest rows (a set: order free)."""
    ordered: list[_Row] = sorted(set(rows), key=lambda r: (r[0], r[1]))
    if len(ordered) <= KEEP_FIRST + KEEP_LAST:
        return tuple(ordered)
    return tuple(ordered[:KEEP_FIRST] + ordered[-KEEP_LAST:])


def add_identity(s: IdentityState, e: IdentityEvent) -> tuple[IdentityState, AttributeSeen | None]:
    """Return the state with one event folded in, and the value if it is new to the worker.

    Idempotent and order free: a value keeps its earliest claim (time, then
    event id), the union of its hashes and (up to 8) sources, and is VoIP if
    any claim says so. Every distinct value is kept (no cap: a cap that evicts
    merged values is not order free; they grow with the distinct values
    claimed of a worker, not with its events). Device facts
    and verdicts are sets of which the earliest and the latest are kept. A
    shipped laptop's address is also a value of the worker (a shipping address).

    Examples
    --------
    >>> keys = IdentityKeys((("k1", b"0123456789abcdef"),))
    >>> e = AttributeClaim("i-1", "w", datetime(2026, 11, 1, tzinfo=UTC), "hr", "email",
    ...                    keys.hashes("ann@example.com"))
    >>> s, new = add_identity(IdentityState(), e)
    >>> new is not None, add_identity(s, e) == (s, None)
    (True, True)
    """
    t = e.observed_at.timestamp()
    if isinstance(e, Verdict):
        row: VerdictSeen = (t, e.event_id, e.check, e.result, e.score, e.source)
        return IdentityState(s.values, s.devices, _bounded((*s.verdicts, row))), None
    if isinstance(e, DeviceFact):
        address = e.hashes[0] if e.hashes else None
        drow: DeviceSeen = (t, e.event_id, e.signal, e.device_id, e.detail, address, e.source)
        state = IdentityState(s.values, _bounded((*s.devices, drow)), s.verdicts)
        if not e.hashes:
            return state, None
        claim = AttributeClaim(
            e.event_id, e.worker_id, e.observed_at, e.source, "shipping_address", e.hashes
        )
        return _add_value(state, claim, t)
    return _add_value(s, e, t)


def _add_value(
    s: IdentityState, e: AttributeClaim, t: float
) -> tuple[IdentityState, AttributeSeen | None]:
    key = (e.attribute, e.hashes[0])
    old = s.values.get(key)
    if old is None:
        hashes = (e.hashes[0], *sorted(set(e.hashes[1:]) - {e.hashes[0]}))
        seen = AttributeSeen(e.attribute, hashes, t, e.event_id, bool(e.voip), (e.source,))
    else:
        earlier = (t, e.event_id) < (old.first_seen, old.event_id)
        seen = AttributeSeen(
            e.attribute,
            (e.hashes[0], *sorted((set(old.hashes) | set(e.hashes)) - {e.hashes[0]})),
            t if earlier else old.first_seen,
            e.event_id if earlier else old.event_id,
            old.voip or bool(e.voip),
            tuple(sorted({*old.sources, e.source}))[:_MAX_SOURCES],
        )
        if seen == old:
            return s, None
    values = dict(s.values)
    values[key] = seen
    return IdentityState(values, s.devices, s.verdicts), (seen if old is None else None)


def fold_identity(
    s: IdentityState, events: Iterable[IdentityEvent]
) -> tuple[IdentityState, list[AttributeSeen]]:
    """Fold events in turn; return the state and the values new to the worker."""
    new: list[AttributeSeen] = []
    for e in events:
        s, seen = add_identity(s, e)
        if seen is not None:
            new.append(seen)
    return s, new


def identity_summary(s: IdentityState) -> dict[str, object]:
    """Return what `/explain` shows: hashes, device facts and verdicts, never a raw value."""
    return {
        "attributes": [
            {
                "attribute": v.attribute,
                "value_hash": h,
                "value_hashes": list(v.hashes),
                "first_observed": format_time(_dt(v.first_seen)),
                "event_id": v.event_id,
                "voip": v.voip,
                "sources": list(v.sources),
            }
            for (_, h), v in sorted(s.values.items(), key=lambda kv: (kv[1].first_seen, kv[0]))
        ],
        "devices": [
            {
                "signal": signal,
                "device_id": device_id,
                "detail": detail,
                "address_hash": address,
                "observed_at": format_time(_dt(t)),
                "event_id": event_id,
                "source": source,
            }
            for t, event_id, signal, device_id, detail, address, source in s.devices
        ],
        "verdicts": [
            {
                "check": check,
                "result": result,
                "score": score,
                "observed_at": format_time(_dt(t)),
                "event_id": event_id,
                "source": source,
            }
            for t, event_id, check, result, score, source in s.verdicts
        ],
    }


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
