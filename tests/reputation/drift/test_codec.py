from __future__ import annotations

import json
from collections.abc import Callable

import orjson
import pytest
from hypothesis import given, settings

from reputation.drift import DriftModel, DriftState, drift_state_from_record, drift_state_to_record
from reputation.errors import UnknownRecordVersionError

from .conftest import DriftEvent
from .test_buckets import SMALL, event_sets


def final(events: list[DriftEvent], model: DriftModel) -> DriftState:
    s = DriftState()
    for kind, e in events:
        s = model.update(s, kind, e)
    return model.settle(s)[0]


@settings(max_examples=80, deadline=None)
@given(event_sets())
def test_round_trip_through_json(events: list[DriftEvent]) -> None:
    s = final(events, SMALL)
    assert drift_state_from_record(json.loads(json.dumps(drift_state_to_record(s)))) == s
    assert drift_state_from_record(orjson.loads(orjson.dumps(drift_state_to_record(s)))) == s


def test_round_trip_keeps_bookkeeping(make_history: Callable[..., list[DriftEvent]]) -> None:
    from reputation.drift.buckets import to_datetime

    model = DriftModel()
    s = final(make_history(40, change_day=30, wallet_change=True), model)
    s = model.rebaseline(s, "ACTIVITY_HOURS_SHIFT", to_datetime(s.tasks[-1].first_ts_us))
    assert s.floors and s.marks and s.episodes and s.dirty
    back = drift_state_from_record(orjson.loads(orjson.dumps(drift_state_to_record(s))))
    assert back == s
    assert model.settle(back) == model.settle(s)


def test_version_1_records_still_read(make_history: Callable[..., list[DriftEvent]]) -> None:
    model = DriftModel()
    s = final(make_history(40, change_day=30), model)
    rec = drift_state_to_record(s)
    v1 = {
        "v": 1,
        "tasks": [r[:10] for r in rec["tasks"]],  # type: ignore[attr-defined]
        "quality": [r[:8] for r in rec["quality"]],  # type: ignore[attr-defined]
        "payouts": [r[:5] for r in rec["payouts"]],  # type: ignore[attr-defined]
        "active": ["CONTEXT_SHIFT"],
        "floors": {},
        "device_facts": [],
        "wallet_facts": [],
        "paired": [],
    }
    old = drift_state_from_record(v1)
    assert [d.day for d in old.tasks] == [d.day for d in s.tasks]
    assert old.dirty[0][0] == old.tasks[0].day and old.max_day == s.max_day
    settled, found, _ = model.settle(old)
    assert {f.type for f in found} == {ep.type for ep in s.episodes}


@pytest.mark.parametrize("v", [0, 3, None, "1"])
def test_other_versions_are_refused(v: object) -> None:
    with pytest.raises(UnknownRecordVersionError):
        drift_state_from_record({"v": v})
