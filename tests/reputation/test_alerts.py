"""Alert records and alert-status commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from reputation.alerts import Alert, alert_from_json, make_alert_id, parse_alert_status
from reputation.errors import InvalidEventError

T = datetime(2026, 11, 1, 10, 5, tzinfo=UTC)


def test_record_follows_the_contract_and_round_trips() -> None:
    a = Alert(
        make_alert_id("SHARED_DEVICE", "w-42", "d-1"),
        "drift",
        "SHARED_DEVICE",
        "high",
        "w-42",
        None,
        T,
        {"device_id": "d-1"},
        ("t-1", "t-9"),
    )
    rec = json.loads(json.dumps(a.to_json()))
    assert set(rec) == {
        "alert_id",
        "kind",
        "type",
        "severity",
        "worker_id",
        "wallet",
        "detected_at",
        "evidence",
        "event_ids",
    }
    assert rec["detected_at"] == "2026-11-01T10:05:00Z" and rec["wallet"] is None
    assert alert_from_json(rec) == a
    assert a.key == "w-42"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "closed"}, "status"),
        ({"disposition": "maybe"}, "disposition"),
        ({"alert_id": ""}, "alert_id"),
        ({"at": "yesterday"}, "at"),
        ({"note": "x" * 3000}, "note"),
    ],
)
def test_bad_status_commands_are_rejected(change: dict[str, object], message: str) -> None:
    cmd = {
        "alert_id": "a",
        "worker_id": "w",
        "type": "QUALITY_SHIFT",
        "status": "resolved",
        "at": "2026-11-01T00:00:00Z",
        "disposition": "benign",
    }
    cmd.update(change)
    with pytest.raises(InvalidEventError, match=message):
        parse_alert_status(cmd)


def test_alert_from_json_rejects_unknown_kinds() -> None:
    rec = Alert("x", "drift", "SHARED_DEVICE", "low", "w", None, T).to_json()
    with pytest.raises(InvalidEventError):
        alert_from_json({**rec, "kind": "gossip"})
    with pytest.raises(InvalidEventError):
        alert_from_json({k: v for k, v in rec.items() if k != "detected_at"})
