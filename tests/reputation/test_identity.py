"""Identity events: validation, normalisation, keyed hashes, redaction, order-free state."""

from __future__ import annotations

import hmac
import json
import random
from datetime import UTC, datetime, timedelta
from hashlib import sha256

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reputation.codec import state_from_record, state_to_record
from reputation.errors import ConfigError, DeadLetterReason, InvalidEventError
from reputation.identity import (
    AttributeClaim,
    DeviceFact,
    IdentityEvent,
    IdentityKeys,
    IdentityState,
    Verdict,
    decode_identity,
    fold_identity,
    identity_summary,
    normalise,
    parse_identity,
    parse_identity_keys,
    redact_payload,
)
from reputation.model import TrustModel
from reputation.state import WorkerState, fold_events
from tests.reputation.conftest import T0, task

KEYS = IdentityKeys((("k2", b"second-secret-0123"), ("k1", b"first-secret-01234")))
OLD = IdentityKeys((("k1", b"first-secret-01234"),))
AT = "2026-11-01T09:00:00Z"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def attr(attribute: str, value: str, **extra: object) -> dict[str, object]:
    return {
        "event_id": "i-1",
        "worker_id": "w-42",
        "observed_at": AT,
        "source": "hr",
        "kind": "attribute",
        "attribute": attribute,
        "value": value,
        **extra,
    }


# --- normalisation: exactly the contract's rules ------------------------------------------


@pytest.mark.parametrize(
    ("value", "country"),
    [
        ("+1 (415) 555-0100", None),
        ("+14155550100", None),
        ("  +1 415 555 0100 ", None),
        ("(415) 555-0100", "US"),
        ("415.555.0100", "US"),
        ("+1-415-555-0100", "GB"),  # an explicit + wins over country
    ],
)
def test_phones_become_e164(value: str, country: str | None) -> None:
    assert normalise("phone", value, country) == "+14155550100"


def test_phones_of_other_regions() -> None:
    assert normalise("phone", "020 7946 0958", "GB") == "+442079460958"
    assert normalise("phone", "+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize(
    ("value", "country"), [("(415) 555-0100", None), ("call Zed", "US"), ("+1 12", None)]
)
def test_bad_phones_are_refused(value: str, country: str | None) -> None:
    with pytest.raises(ValueError, match="phone") as info:
        normalise("phone", value, country)
    assert value not in str(info.value)


def test_emails_are_trimmed_and_lower_cased() -> None:
    assert normalise("email", "  Ann.Lee+x@Example.COM\t") == "ann.lee+x@example.com"
    for bad in ("ann", "a@b@c", "a b@c.d", "   "):
        with pytest.raises(ValueError, match="email"):
            normalise("email", bad)


@pytest.mark.parametrize("attribute", ["postal_address", "shipping_address"])
def test_addresses_are_canonical(attribute: str) -> None:
    written = [
        "12 Main Street, Apartment 4B, Springfield",
        "12  MAIN street   apartment 4b springfield",
        "12 Main St., Apt. 4B; Springfield",
        "12 main st apt 4b springfield",
        " 12 Main St.,Apt 4B,Springfield ",
    ]
    assert {normalise(attribute, w) for w in written} == {"12 main st apt 4b springfield"}
    assert (
        normalise(attribute, "1 Park Avenue, Suite 200, Floor 3, Mill Road")
        == "1 park ave ste 200 fl 3 mill rd"
    )
    # Whole words only: "Streeter" and "Broadway" stay.
    assert normalise(attribute, "3 Streeter Broadway") == "3 streeter broadway"


@pytest.mark.parametrize("attribute", ["bank_account", "resume", "reference_contact"])
def test_other_values_are_trimmed_and_lower_cased(attribute: str) -> None:
    assert normalise(attribute, "  DE89 3704 0044 ") == "de89 3704 0044"


# --- keyed hashes and rotation ------------------------------------------------------------


def test_hash_is_hmac_sha256_of_the_normalised_value_per_key() -> None:
    e = parse_identity(attr("phone", "(415) 555-0100", country="us"), KEYS)
    assert isinstance(e, AttributeClaim)
    expected = tuple(
        f"{kid}:{hmac.new(secret, b'+14155550100', sha256).hexdigest()}"
        for kid, secret in KEYS.keys
    )
    assert e.hashes == expected
    # The same value written another way is the same hash.
    again = parse_identity(attr("phone", "+1 415-555-0100"), KEYS)
    assert isinstance(again, AttributeClaim) and again.hashes == e.hashes


def test_rotation_links_values_hashed_before_and_after() -> None:
    before = parse_identity(attr("email", "Ann@Example.com"), OLD)
    after = parse_identity(attr("email", "ann@example.com "), KEYS)
    assert isinstance(before, AttributeClaim) and isinstance(after, AttributeClaim)
    assert before.hashes[0] == after.hashes[1] and after.hashes[0].startswith("k2:")


def test_a_value_hash_is_kept_as_is() -> None:
    given_hash = "vendor-k:" + "ab" * 32
    obj = attr("bank_account", "x")
    del obj["value"]
    e = parse_identity({**obj, "value_hash": given_hash}, KEYS)
    assert isinstance(e, AttributeClaim) and e.hashes == (given_hash,)
    for bad in ("ab" * 32, "k:" + "AB" * 32, "k:" + "ab" * 31, 7):
        with pytest.raises(InvalidEventError) as info:
            parse_identity({**obj, "value_hash": bad}, KEYS)
        assert info.value.reason is DeadLetterReason.BAD_HASH


def test_keys_from_configuration() -> None:
    keys = parse_identity_keys("k2:second-secret-0123, k1:first-secret-01234")
    assert keys == KEYS and "secret" not in repr(keys)
    for bad in (
        "k1",
        "k1:short",
        "k 1:long-enough-secret",
        "k1:long-enough-secret,k1:another-secret-x",
    ):
        with pytest.raises(ConfigError):
            parse_identity_keys(bad)


def test_raw_values_without_a_key_are_refused_but_hashes_are_taken() -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_identity(attr("email", "ann@example.com"), None)
    assert info.value.reason is DeadLetterReason.NO_IDENTITY_KEY
    obj = attr("email", "x")
    del obj["value"]
    assert parse_identity({**obj, "value_hash": "k1:" + "0" * 64}, None)


# --- the three kinds ----------------------------------------------------------------------


def test_device_and_verification_events() -> None:
    base = {"event_id": "i-2", "worker_id": "w", "observed_at": AT, "source": "it"}
    shipped = parse_identity(
        {**base, "kind": "device", "signal": "laptop_shipped", "value": "9 Elm Road"}, KEYS
    )
    assert isinstance(shipped, DeviceFact)
    assert shipped.hashes == KEYS.hashes("9 elm rd")
    tool = parse_identity(
        {**base, "kind": "device", "signal": "remote_access_tool", "detail": "AnyDesk"}, KEYS
    )
    assert isinstance(tool, DeviceFact) and tool.detail == "AnyDesk" and tool.hashes == ()
    with pytest.raises(InvalidEventError, match="device_id: is required"):
        parse_identity({**base, "kind": "device", "signal": "sign_in_device"}, KEYS)
    verdict = parse_identity(
        {**base, "kind": "verification", "check": "liveness", "result": "pass", "score": 0.97},
        KEYS,
    )
    assert isinstance(verdict, Verdict) and verdict.score == 0.97
    for bad in ({"score": 1.5}, {"score": "high"}, {"result": "maybe"}, {"check": "palm"}):
        with pytest.raises(InvalidEventError):
            parse_identity(
                {**base, "kind": "verification", "check": "liveness", "result": "pass", **bad},
                KEYS,
            )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kind": "rumour"}, DeadLetterReason.OUT_OF_RANGE),
        ({"attribute": "fax"}, DeadLetterReason.OUT_OF_RANGE),
        ({"worker_id": None}, DeadLetterReason.MISSING_FIELD),
        ({"observed_at": "yesterday"}, DeadLetterReason.BAD_TIME),
        ({"observed_at": "2027-06-01T00:00:00Z"}, DeadLetterReason.FUTURE_TIME),
        ({"voip": "yes"}, DeadLetterReason.WRONG_TYPE),
        ({"value": None}, DeadLetterReason.MISSING_FIELD),
        ({"value_hash": "k1:" + "0" * 64}, DeadLetterReason.OUT_OF_RANGE),  # both given
        ({"value": "call me"}, DeadLetterReason.BAD_IDENTITY_VALUE),
        ({"country": "USA"}, DeadLetterReason.OUT_OF_RANGE),
    ],
)
def test_rejections_name_the_field_and_reason(change: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_identity({**attr("phone", "+1 415 555 0100"), **change}, KEYS, now=NOW)
    assert info.value.reason == reason


RAW = st.sampled_from(
    ["+1 (415) 555-0199", "Zed.Quux@Example.org", "77 Xylo Street, Apt 9", "GB29NWBK60161331"]
)


@settings(max_examples=200, deadline=None)
@given(
    RAW,
    st.sampled_from(["phone", "email", "postal_address", "bank_account", "fax", 3]),
    st.sampled_from(
        [
            "event_id",
            "worker_id",
            "observed_at",
            "source",
            "kind",
            "attribute",
            "country",
            "voip",
            "value",
            "value_hash",
            "detail",
            "device_id",
            "junk",
        ]
    ),
)
def test_no_error_text_shows_a_value(raw: str, attribute: object, where: str) -> None:
    obj: dict[str, object] = attr("email", raw)
    obj["attribute"] = attribute
    obj[where] = raw if where != "value" else {"nested": raw}
    try:
        parse_identity(obj, KEYS, now=NOW)
    except InvalidEventError as exc:
        for form in (raw, raw.lower(), raw.strip()):
            assert form not in exc.detail
    payload = json.dumps(obj).encode()
    try:
        decode_identity(payload[:-3], KEYS)
    except InvalidEventError as exc:
        assert raw not in exc.detail
    if where in ("value", "junk"):  # a field meant for values, or one the contract lacks
        shown = redact_payload(payload).decode()
        assert raw not in shown and raw.lower() not in shown


def test_redaction_keeps_only_safe_short_fields() -> None:
    raw = json.dumps(
        {**attr("phone", "+1 415 555 0100"), "+14155550100": True, "source": "x" * 300}
    ).encode()
    shown = json.loads(redact_payload(raw))
    assert shown["value"] == "[redacted]" and shown["source"] == "[redacted]"
    assert shown["event_id"] == "i-1" and shown["redacted_fields"] == 1
    assert "555" not in redact_payload(raw).decode()


# --- state: order free, idempotent, bounded -----------------------------------------------


@st.composite
def identity_events(draw: st.DrawFn, max_size: int = 60, workers: int = 3) -> list[IdentityEvent]:
    n = draw(st.integers(1, max_size))
    pool = draw(st.integers(1, 90))
    out: list[IdentityEvent] = []
    for i in range(n):
        worker = f"w-{draw(st.integers(0, workers - 1))}"
        t = T0 + timedelta(seconds=draw(st.integers(0, 86_400 * 60)))
        kind = draw(st.sampled_from(["attribute", "shipped", "device", "verdict"]))
        value = f"v{draw(st.integers(0, pool))}"
        source = draw(st.sampled_from(["hr", "it", "hiring", "acme"]))
        keys = draw(st.sampled_from([KEYS, OLD]))
        if kind == "attribute":
            attribute = draw(st.sampled_from(["email", "bank_account", "resume"]))
            voip = draw(st.sampled_from([None, True, False]))
            out.append(
                AttributeClaim(
                    f"i-{i}",
                    worker,
                    t,
                    source,
                    attribute,
                    keys.hashes(value),
                    voip,  # type: ignore[arg-type]
                )
            )
        elif kind == "shipped":
            out.append(
                DeviceFact(
                    f"i-{i}", worker, t, source, "laptop_shipped", None, None, keys.hashes(value)
                )
            )
        elif kind == "device":
            signal = draw(st.sampled_from(["remote_access_tool", "ip_kvm", "sign_in_device"]))
            out.append(DeviceFact(f"i-{i}", worker, t, source, signal, f"d-{i % 5}", "AnyDesk"))  # type: ignore[arg-type]
        else:
            result = draw(st.sampled_from(["pass", "fail", "inconclusive"]))
            score = draw(st.sampled_from([None, 0.5, 0.97]))
            out.append(Verdict(f"i-{i}", worker, t, source, "liveness", result, score))  # type: ignore[arg-type]
    return out


MODEL = TrustModel()


def run(events: list[IdentityEvent], batch: int = 10_000) -> dict[str, WorkerState]:
    states: dict[str, WorkerState] = {}
    for start in range(0, len(events), batch):
        by_worker: dict[str, list[tuple[str, IdentityEvent]]] = {}
        for e in events[start : start + batch]:
            by_worker.setdefault(e.worker_id, []).append(("identity", e))
        for w, items in by_worker.items():
            states[w] = fold_events(MODEL, states.get(w) or WorkerState(w), items).state
    return states


@settings(max_examples=150, deadline=None)
@given(identity_events(), st.randoms(use_true_random=False), st.integers(1, 20))
def test_identity_state_is_order_and_batch_free(
    events: list[IdentityEvent], rnd: random.Random, batch: int
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert run(events) == run(shuffled, batch)


@settings(max_examples=100, deadline=None)
@given(identity_events(), st.randoms(use_true_random=False), st.integers(1, 6))
def test_identity_state_survives_redelivery_and_partition_split(
    events: list[IdentityEvent], rnd: random.Random, parts: int
) -> None:
    redelivered = events + rnd.sample(events, k=len(events) // 2)
    rnd.shuffle(redelivered)
    shards: list[list[IdentityEvent]] = [[] for _ in range(parts)]
    for e in redelivered:
        shards[sum(map(ord, e.worker_id)) % parts].append(e)
    merged: dict[str, WorkerState] = {}
    for shard in shards:
        merged.update(run(shard, rnd.randint(1, 7)))
    assert run(events) == merged


@settings(max_examples=40, deadline=None)
@given(identity_events(max_size=160, workers=1), st.randoms(use_true_random=False))
def test_identity_state_caps_are_order_free(
    events: list[IdentityEvent], rnd: random.Random
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    s = run(events)["w-0"].identity
    assert run(shuffled, 5)["w-0"].identity == s
    # Without the state's applied-event memory the fold is idempotent by itself.
    direct, _ = fold_identity(IdentityState(), shuffled + shuffled)
    assert direct == s


@settings(max_examples=60, deadline=None)
@given(identity_events())
def test_identity_state_round_trips_and_shows_no_raw_value(events: list[IdentityEvent]) -> None:
    for s in run(events).values():
        rec = json.loads(json.dumps(state_to_record(s)))
        assert state_from_record(rec) == s
        summary = json.dumps(identity_summary(s.identity))
        assert '"v1"' not in json.dumps(rec) and '"v1"' not in summary


def test_identity_events_do_not_move_the_score_and_new_values_are_reported() -> None:
    work = [("tasks", task(i, day=i / 2)) for i in range(20)]
    claim = AttributeClaim("i-1", "w-1", T0, "hr", "email", KEYS.hashes("ann@example.com"))
    plain = fold_events(MODEL, WorkerState("w-1"), work).state
    folded = fold_events(MODEL, WorkerState("w-1"), [*work, ("identity", claim)])
    assert [v.hashes for v in folded.values] == [claim.hashes]
    with_id = folded.state
    assert with_id.identity.values and with_id.t_ref == plain.t_ref
    assert with_id.first_seen == plain.first_seen and with_id.credit == plain.credit
    again = fold_events(MODEL, with_id, [("identity", claim)])
    assert again.new == [False] and again.values == ()
