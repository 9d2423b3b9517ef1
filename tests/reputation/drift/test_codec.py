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
        s, _ = model.update(s, kind, e)
    return s


@settings(max_examples=80, deadline=None)
@given(event_sets())
def test_round_trip_through_json(events: list[DriftEvent]) -> None:
    s = final(events, SMALL)
    assert drift_state_from_record(json.loads(json.dumps(drift_state_to_record(s)))) == s
    assert drift_state_from_record(orjson.loads(orjson.dumps(drift_state_to_record(s)))) == s


def test_round_trip_keeps_bookkeeping(make_history: Callable[..., list[DriftEvent]]) -> None:
    model = DriftModel()
    s = final(make_history(40, change_day=30, wallet_change=True), model)
    s = model.rebaseline(
        s,
        "ACTIVITY_HOURS_SHIFT",
        s.tasks[-1].first_ts_us
        and __import__("reputation.drift.buckets", fromlist=["x"]).to_datetime(
            s.tasks[-1].first_ts_us
        ),
    )
    assert s.paired and s.floors and s.device_facts and s.wallet_facts
    back = drift_state_from_record(orjson.loads(orjson.dumps(drift_state_to_record(s))))
    assert back == s
    # The decoded state keeps working exactly like the original.
    assert (
        model.rebaseline(
            back,
            "QUALITY_SHIFT",
            back.tasks[-1].first_ts_us
            and __import__("reputation.drift.buckets", fromlist=["x"]).to_datetime(
                back.tasks[-1].first_ts_us
            ),
        )
        is not None
    )


@pytest.mark.parametrize("v", [0, 2, None, "1"])
def test_other_versions_are_refused(v: object) -> None:
    with pytest.raises(UnknownRecordVersionError):
        drift_state_from_record({"v": v})
