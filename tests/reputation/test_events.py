"""Validation at the edge: every way an input is rejected, with its reason."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reputation.errors import DeadLetterReason, InvalidEventError
from reputation.events import (
    decode_event,
    parse_address,
    parse_payout,
    parse_sanction,
    parse_task,
    parse_time,
    parse_transfer,
)

NOW = datetime(2026, 11, 20, tzinfo=UTC)
TASK = {
    "event_id": "t-1",
    "worker_id": "w-42",
    "payer_id": "agent-7",
    "task_id": "k-991",
    "outcome": "accepted",
    "assigned_at": "2026-11-01T09:00:00Z",
    "completed_at": "2026-11-01T09:40:00Z",
    "reward": {"amount": "12.50", "asset": "USDC"},
    "context": {"utc_offset_min": -300, "ip_asn": 7922, "country": "US", "device_id": "d-1a2b"},
}
QUALITY = {
    "event_id": "q-1",
    "worker_id": "w-42",
    "task_id": "k-991",
    "scorer_id": "agent-7",
    "score": 0.93,
    "weight": 1.0,
    "scored_at": "2026-11-01T10:00:00Z",
}
PAYOUT = {
    "event_id": "p-1",
    "worker_id": "w-42",
    "payer_id": "agent-7",
    "wallet": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "chain_id": 1,
    "asset": "USDC",
    "amount": "12.50",
    "paid_at": "2026-11-01T10:05:00Z",
}
TRANSFER = {
    "event_id": "1:0x" + "ab" * 32 + ":3",
    "chain_id": 1,
    "block_number": 21000000,
    "block_time": "2026-11-01T10:06:11Z",
    "tx_hash": "0x" + "ab" * 32,
    "log_index": 3,
    "token": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
    "from": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "to": "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359",
    "amount": "12500000",
    "decimals": 6,
}
SANCTION = {
    "address": "0x08723392ed15743cc38513c4925f5e6be5c17243",
    "program": "DPRK3",
    "entity": "LAZARUS GROUP",
    "listed_at": "2022-04-14T00:00:00Z",
    "source": "OFAC SDN",
    "delisted": False,
}
VALID = {
    "tasks": TASK,
    "quality": QUALITY,
    "payouts": PAYOUT,
    "transfers": TRANSFER,
    "sanctions": SANCTION,
}


def decode(topic: str, obj: object) -> object:
    return decode_event(topic, orjson.dumps(obj), now=NOW, loads=orjson.loads)


@pytest.mark.parametrize("topic", sorted(VALID))
def test_contract_examples_are_valid(topic: str) -> None:
    decode(topic, VALID[topic])


def test_unknown_fields_are_ignored() -> None:
    decode("tasks", {**TASK, "extra": {"nested": [1, 2]}})


def test_transfer_round_trip() -> None:
    t = parse_transfer(TRANSFER)
    assert t.sender == TRANSFER["from"].lower()  # type: ignore[union-attr]
    assert parse_transfer(t.to_json()) == t
    s = parse_sanction(SANCTION)
    assert parse_sanction(s.to_json()) == s


def with_(base: dict[str, object], **changes: object) -> dict[str, object]:
    out = dict(base)
    for k, v in changes.items():
        if v is ...:
            out.pop(k)
        else:
            out[k] = v
    return out


REJECTS = [
    ("tasks", with_(TASK, worker_id=...), DeadLetterReason.MISSING_FIELD, "worker_id: is required"),
    (
        "tasks",
        with_(TASK, outcome="done"),
        DeadLetterReason.OUT_OF_RANGE,
        "outcome: must be one of accepted, rejected, late, abandoned",
    ),
    (
        "tasks",
        with_(TASK, worker_id=42),
        DeadLetterReason.WRONG_TYPE,
        "worker_id: must be a string",
    ),
    ("tasks", with_(TASK, event_id=""), DeadLetterReason.BAD_ID, "event_id: must be 1-128"),
    ("tasks", with_(TASK, event_id="x" * 129), DeadLetterReason.BAD_ID, "event_id"),
    ("tasks", with_(TASK, completed_at="yesterday"), DeadLetterReason.BAD_TIME, "completed_at"),
    (
        "tasks",
        with_(TASK, completed_at="2026-11-01T09:40:00"),
        DeadLetterReason.BAD_TIME,
        "completed_at",
    ),
    (
        "tasks",
        with_(TASK, completed_at="2026-02-30T09:40:00Z"),
        DeadLetterReason.BAD_TIME,
        "completed_at",
    ),
    (
        "tasks",
        with_(TASK, assigned_at="2026-11-22T09:00:00Z", completed_at="2026-11-22T09:40:00Z"),
        DeadLetterReason.FUTURE_TIME,
        "assigned_at",
    ),
    (
        "tasks",
        with_(TASK, completed_at="2026-11-01T08:00:00Z"),
        DeadLetterReason.OUT_OF_RANGE,
        "completed_at: must not be before assigned_at",
    ),
    (
        "tasks",
        with_(TASK, reward={"amount": "-1", "asset": "USDC"}),
        DeadLetterReason.BAD_MONEY,
        "reward.amount: must not be negative",
    ),
    (
        "tasks",
        with_(TASK, reward={"amount": 12.5, "asset": "USDC"}),
        DeadLetterReason.BAD_MONEY,
        "reward.amount",
    ),
    (
        "tasks",
        with_(TASK, context={"utc_offset_min": 5000}),
        DeadLetterReason.OUT_OF_RANGE,
        "context.utc_offset_min",
    ),
    (
        "quality",
        with_(QUALITY, score=1.7),
        DeadLetterReason.OUT_OF_RANGE,
        "score: must be within 0..1",
    ),
    ("quality", with_(QUALITY, score=-0.1), DeadLetterReason.OUT_OF_RANGE, "score"),
    (
        "quality",
        with_(QUALITY, score="0.9"),
        DeadLetterReason.WRONG_TYPE,
        "score: must be a number",
    ),
    ("quality", with_(QUALITY, score=True), DeadLetterReason.WRONG_TYPE, "score"),
    ("quality", with_(QUALITY, weight=0), DeadLetterReason.OUT_OF_RANGE, "weight: must be > 0"),
    ("quality", with_(QUALITY, weight=-2.0), DeadLetterReason.OUT_OF_RANGE, "weight"),
    ("payouts", with_(PAYOUT, amount="12,50"), DeadLetterReason.BAD_MONEY, "amount"),
    ("payouts", with_(PAYOUT, amount="1e3"), DeadLetterReason.BAD_MONEY, "amount"),
    (
        "payouts",
        with_(PAYOUT, amount="-5.00"),
        DeadLetterReason.BAD_MONEY,
        "amount: must not be negative",
    ),
    (
        "payouts",
        with_(PAYOUT, wallet="0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
        DeadLetterReason.BAD_CHECKSUM,
        "wallet: EIP-55 checksum is wrong",
    ),
    ("payouts", with_(PAYOUT, wallet="0x123"), DeadLetterReason.BAD_ADDRESS, "wallet"),
    ("payouts", with_(PAYOUT, chain_id=0), DeadLetterReason.OUT_OF_RANGE, "chain_id"),
    ("payouts", with_(PAYOUT, tx_hash="0x12"), DeadLetterReason.BAD_HASH, "tx_hash"),
    ("transfers", with_(TRANSFER, amount="1.5"), DeadLetterReason.BAD_MONEY, "amount"),
    (
        "transfers",
        with_(TRANSFER, to="0xFB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"),
        DeadLetterReason.BAD_CHECKSUM,
        "to",
    ),
    ("sanctions", with_(SANCTION, delisted="no"), DeadLetterReason.WRONG_TYPE, "delisted"),
]


@pytest.mark.parametrize(("topic", "obj", "reason", "message"), REJECTS)
def test_rejections_carry_reason_and_field(
    topic: str, obj: dict[str, object], reason: DeadLetterReason, message: str
) -> None:
    with pytest.raises(InvalidEventError) as info:
        decode(topic, obj)
    assert info.value.reason is reason
    assert message in info.value.detail


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", DeadLetterReason.BAD_JSON),
        (b"\xff\xfe", DeadLetterReason.BAD_JSON),
        (b"[1, 2]", DeadLetterReason.NOT_AN_OBJECT),
        (b"null", DeadLetterReason.NOT_AN_OBJECT),
        (b'{"a": "' + b"x" * 70_000 + b'"}', DeadLetterReason.TOO_LARGE),
    ],
)
def test_raw_rejections(raw: bytes, reason: DeadLetterReason) -> None:
    with pytest.raises(InvalidEventError) as info:
        decode_event("tasks", raw, now=NOW)
    assert info.value.reason is reason


def test_offsets_are_normalised_to_utc() -> None:
    assert parse_time("2026-11-01T10:40:00+01:00") == datetime(2026, 11, 1, 9, 40, tzinfo=UTC)
    assert parse_time("2026-11-01T09:40:00.123456789Z").microsecond == 123456


def test_address_is_lowercased_and_checksum_checked() -> None:
    assert parse_address("0xFB6916095CA1DF60BB79CE92CE3EA74C37C5D359") == (
        "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"
    )
    p = parse_payout(PAYOUT)
    assert p.wallet == "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    for topic in VALID:
        try:
            decode_event(topic, raw, now=NOW)
        except InvalidEventError:
            pass


@given(
    st.dictionaries(
        st.sampled_from(sorted(TASK)),
        st.one_of(
            st.none(),
            st.integers(),
            st.floats(),
            st.text(max_size=20),
            st.booleans(),
            st.lists(st.integers(), max_size=2),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        ),
    )
)
def test_arbitrary_field_values_are_rejected_or_parsed(overrides: dict[str, object]) -> None:
    try:
        parse_task({**TASK, **overrides}, now=NOW)
    except InvalidEventError as exc:
        assert exc.detail.split(":")[0] in {
            *TASK,
            "reward.amount",
            "reward.asset",
            "context.utc_offset_min",
            "context.ip_asn",
            "context.country",
            "context.device_id",
        }


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_issue_6_time_out_of_datetime_range_is_bad_input_not_a_crash(value: str) -> None:
    # Found while describing ?at= for the OpenAPI test: a 500 there, and on a topic an
    # OverflowError out of the decoder instead of a dead letter.
    with pytest.raises(InvalidEventError) as err:
        parse_time(value, "at")
    assert err.value.reason == DeadLetterReason.BAD_TIME
    with pytest.raises(InvalidEventError):
        decode_event("tasks", orjson.dumps({**TASK, "completed_at": value}), now=NOW)
