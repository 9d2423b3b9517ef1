"""The dashboard's in-memory score log: history thinning, overview aggregation, bounds.

No broker, no browser: `ScoreLog.add_raw` takes ``vigil.scores`` values as the
consumer would hand them over. The page itself is tested in a real Chromium in
tests/integration/test_dashboard.py.
"""

from __future__ import annotations

import doctest
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

import streams.scorelog
from config.settings import DashboardConfig, Settings, load_settings
from reputation.alerts import DISPOSITIONS, DRIFT_ALERT_TYPES, SANCTIONS_ALERT_TYPES
from reputation.assess import BANDS
from reputation.errors import ConfigError
from streams.alertlog import AlertLog
from streams.scorelog import ScoreLog, histogram_bin, histogram_edges, risk_key, thin
from streams.webdash import open_alerts_by_worker

T0 = datetime(2026, 9, 1, tzinfo=UTC)
DASHBOARD = Path(streams.scorelog.__file__).with_name("dashboard.html")


def record(
    worker: str,
    hours: float,
    score: float,
    band: str = "standard",
    confidence: float = 0.5,
    reasons: tuple[str, ...] = (),
) -> dict[str, object]:
    at = T0 + timedelta(hours=hours)
    return {
        "worker_id": worker,
        "as_of": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "score": score,
        "confidence": confidence,
        "band": band,
        "components": {"reliability": 0.9, "quality": 0.8, "payment_history": 0.4},
        "reasons": list(reasons),
        "flags": [],
        "evidence": {},
        "model": "1",
    }


def score_log(history_points: int = 240, max_workers: int = 100_000) -> ScoreLog:
    return ScoreLog(replace(Settings(), dashboard=DashboardConfig(history_points, max_workers)))


def test_doctests() -> None:
    result = doctest.testmod(streams.scorelog)
    assert result.attempted > 0 and result.failed == 0


def test_thinning_keeps_the_whole_life_with_bounded_points() -> None:
    log = score_log(history_points=16)
    n = 1000
    log.add_raw(orjson.dumps(record("w-1", h, (h % 100) / 100)) for h in range(n))
    points = log.history("w-1")
    assert points is not None
    assert 8 <= len(points) <= 16
    times = [p["at"] for p in points]
    assert times == sorted(times) and len(set(times)) == len(times)
    # The plot still starts at the first record and ends at the latest one.
    assert times[0] == "2026-09-01T00:00:00Z"
    assert times[-1] == (T0 + timedelta(hours=n - 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert points[-1]["score"] == pytest.approx(((n - 1) % 100) / 100, abs=1e-6)
    # Older points are sparser than newer ones.
    stamps = [datetime.fromisoformat(t).timestamp() for t in times]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert gaps[0] > gaps[-1] == 3600


def test_thin_drops_every_other_point_of_the_older_half() -> None:
    assert thin(10) == [0, 2, 4, 5, 6, 7, 8, 9]
    assert thin(4) == [0, 2, 3]
    for n in range(4, 300):
        kept = thin(n)
        assert kept[0] == 0 and kept[-1] == n - 1 and len(kept) < n


def test_a_record_for_the_same_time_replaces_its_point_and_late_ones_fall_in_place() -> None:
    log = score_log()
    for rec in (record("w-1", 0, 0.5), record("w-1", 2, 0.6), record("w-1", 2, 0.7)):
        assert log.add_record(rec)
    assert log.add_record(record("w-1", 1, 0.55))  # out of order: placed, not the latest
    points = log.history("w-1")
    assert points is not None
    assert [p["score"] for p in points] == pytest.approx([0.5, 0.55, 0.7])
    assert log.overview({}, 5)["riskiest"][0]["score"] == pytest.approx(0.7)
    assert log.overview({}, 5)["score_histogram"]["counts"][7] == 1


def test_overview_counts_bands_and_histogram_from_latest_records_only() -> None:
    log = score_log()
    recs = [
        record("w-a", 0, 0.9, "trusted"),
        record("w-a", 1, 0.82, "trusted"),
        record("w-b", 0, 0.6, "standard"),
        record("w-b", 3, 0.45, "review", reasons=("ACTIVITY_HOURS_SHIFT", "LOW_QUALITY")),
        record("w-c", 0, 0.05, "blocked", reasons=("SANCTIONED_PAYOUT",)),
        record("w-d", 0, 0.3, "standard", reasons=("LOW_RELIABILITY",)),
        record("w-e", 0, 0.7, "new", confidence=0.1),
        record("w-f", 0, 1.0, "trusted"),
        record("w-g", 0, 0.0, "standard"),
    ]
    log.add_raw([*(orjson.dumps(r) for r in recs), None, b"not json", b"[1]"])
    assert not log.add_record({"worker_id": "w-x", "as_of": "yesterday", "score": 1})
    assert not log.add_record({**record("w-x", 0, 0.5), "band": "purple"})

    now = datetime(2026, 10, 1, tzinfo=UTC)
    ov = log.overview({"w-b": 2, "w-c": 1}, limit=4, now=now)
    latest = {r["worker_id"]: r for r in recs}  # the last record of each worker
    assert ov["workers"] == len(latest) == 7
    assert ov["bands"] == {b: sum(r["band"] == b for r in latest.values()) for b in BANDS}
    edges = ov["score_histogram"]["edges"]
    assert edges == histogram_edges() and len(edges) == 11 and edges[0] == 0 and edges[-1] == 1
    want = [0] * 10
    for r in latest.values():
        score = float(r["score"])  # type: ignore[arg-type]
        want[min(int(score * 10 + 1e-9), 9)] += 1
    assert ov["score_histogram"]["counts"] == want
    assert sum(want) == ov["workers"]
    assert ov["as_of"] == "2026-10-01T00:00:00Z"
    # Blocked first, then review, then the lowest score, whatever the band.
    assert [r["worker_id"] for r in ov["riskiest"]] == ["w-c", "w-b", "w-g", "w-d"]
    top = ov["riskiest"][1]
    assert top == {
        "worker_id": "w-b",
        "score": 0.45,
        "band": "review",
        "confidence": 0.5,
        "reasons": ["ACTIVITY_HOURS_SHIFT", "LOW_QUALITY"],
        "reason_text": {
            "ACTIVITY_HOURS_SHIFT": "open alert: ACTIVITY_HOURS_SHIFT",
            "LOW_QUALITY": "output quality below the population",
        },
        "open_alerts": 2,
    }
    assert ov["riskiest"][2]["open_alerts"] == 0
    assert log.history("nobody") is None and log.record("nobody") is None


def test_tracked_workers_are_capped_and_counts_stay_consistent() -> None:
    log = score_log(max_workers=3)
    for i in range(6):
        log.add_record(record(f"w-{i}", i, i / 10, BANDS[i % len(BANDS)]))
    log.add_record(record("w-4", 9, 0.95, "trusted"))  # w-4 is now the most recent
    log.add_record(record("w-6", 10, 0.2, "review"))
    ov = log.overview({}, 10)
    assert ov["workers"] == 3 and log.evicted == 4
    assert {r["worker_id"] for r in ov["riskiest"]} == {"w-4", "w-5", "w-6"}
    assert sum(ov["bands"].values()) == 3 == sum(ov["score_histogram"]["counts"])
    assert ov["bands"]["trusted"] == 2 and ov["bands"]["review"] == 1  # w-4, w-5; w-6


def test_histogram_bins_and_risk_order() -> None:
    assert [histogram_bin(x) for x in (0.0, 0.05, 0.1, 0.3, 0.7, 0.9999, 1.0)] == [
        0,
        0,
        1,
        3,
        7,
        9,
        9,
    ]
    assert risk_key("blocked", 0.9, "a") < risk_key("review", 0.1, "a") < risk_key("new", 0, "a")
    assert risk_key("trusted", 0.2, "a") < risk_key("standard", 0.3, "a")


def test_open_alerts_by_worker_counts_only_open_ones() -> None:
    alerts = AlertLog(Settings())
    for i, worker in enumerate(["w-1", "w-1", "w-2", None]):
        alerts.add_alert({"alert_id": f"a{i}", "worker_id": worker, "type": "SHARED_WALLET"})
    alerts.add_status({"alert_id": "a1", "status": "resolved"})
    assert open_alerts_by_worker(alerts) == {"w-1": 1, "w-2": 1}


def test_dashboard_settings_from_the_environment() -> None:
    s = load_settings(
        {"VIGIL_DASHBOARD_HISTORY_POINTS": "60", "VIGIL_DASHBOARD_MAX_WORKERS": "500"}
    )
    assert s.dashboard == DashboardConfig(history_points=60, max_workers=500)
    assert load_settings({}).dashboard == DashboardConfig(240, 100_000)
    with pytest.raises(ConfigError, match="VIGIL_DASHBOARD_HISTORY_POINTS"):
        load_settings({"VIGIL_DASHBOARD_HISTORY_POINTS": "2"})
    with pytest.raises(ConfigError, match="VIGIL_DASHBOARD_MAX_WORKERS"):
        load_settings({"VIGIL_DASHBOARD_MAX_WORKERS": "0"})


def test_dashboard_page_offers_every_alert_type_and_disposition() -> None:
    html = DASHBOARD.read_text(encoding="utf-8")
    type_select = re.search(r'<select id="f-type".*?</select>', html, re.S)
    assert type_select is not None
    offered = set(re.findall(r"<option>([A-Z_]+)</option>", type_select.group(0)))
    assert offered == set(DRIFT_ALERT_TYPES) | set(SANCTIONS_ALERT_TYPES)
    disposition_select = re.search(r'<select id="resolve-disposition".*?</select>', html, re.S)
    assert disposition_select is not None
    assert re.findall(r'value="([a-z_]+)"', disposition_select.group(0)) == list(DISPOSITIONS)
    # No build step and nothing fetched from elsewhere.
    assert "http://" not in html and "https://" not in html and "<script src" not in html
