"""Alerts end to end: the simulated platform through a real broker and `vigil worker`.

The same events go through `vigil replay`; the engine on Kafka must raise the
same alerts (by id, type and worker) and end with the same trust records, and
the sanctions override must show in the bands. An analyst resolves an alert
through the API and the worker's record drops the flag.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tests.helpers.events import standing_alerts
from tests.integration.conftest import Stack, http, wait_until
from tests.reputation.test_state import assert_close

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIM = ("--seed", "5", "--workers", "150", "--days", "40")


def simulate_into_kafka(stack: Stack) -> dict[str, Any]:
    out = stack.workdir / "sim"
    stack.create_topics()
    stack.vigil(
        "simulate",
        *SIM,
        "--out",
        str(out),
        "--kafka",
        "--bootstrap",
        stack.bootstrap,
        "--topic-prefix",
        stack.prefix,
        "--quiet",
    )
    truth: dict[str, Any] = json.loads((out / "truth.json").read_text())
    stack.env_extra["VIGIL_SERVICE_ADDRESSES"] = ",".join(truth["service_addresses"].values())
    return truth


def replay(stack: Stack) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    scores, alerts = stack.workdir / "scores.jsonl", stack.workdir / "alerts.jsonl"
    stack.vigil(
        "replay",
        str(stack.workdir / "sim" / "events.jsonl"),
        "--scores",
        str(scores),
        "--alerts",
        str(alerts),
        "--quiet",
    )
    return (
        {r["worker_id"]: r for r in map(orjson.loads, scores.read_bytes().splitlines())},
        [orjson.loads(line) for line in alerts.read_bytes().splitlines()],
    )


def alert_keys(alerts: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    return {(a["alert_id"], a["type"], a["worker_id"]) for a in alerts}


def kafka_alerts(stack: Stack) -> list[dict[str, Any]]:
    return standing_alerts([orjson.loads(v) for _, v, _, _ in stack.read_all("alerts")])


def workers_of(truth: dict[str, Any], kind: str) -> list[str]:
    return sorted(w for w, info in truth["workers"].items() if info["kind"] == kind)


def test_simulated_platform_alerts_match_replay_and_override_bands(stack: Stack) -> None:
    truth = simulate_into_kafka(stack)
    expected_scores, expected_alerts = replay(stack)
    want = alert_keys(expected_alerts)
    types = {t for _, t, _ in want}
    assert {"SANCTIONED_PAYOUT", "SANCTIONED_LINKED_PAYOUT", "SHARED_WALLET"} <= types

    stack.start_engine("engine-a", 16081)
    got: set[tuple[str, str, str | None]] = set()

    def same_alerts() -> bool:
        nonlocal got
        got = alert_keys(kafka_alerts(stack))
        return got == want

    try:
        wait_until(same_alerts, 240, "vigil.alerts to match vigil replay", interval_s=2.0)
    finally:
        print("missing", sorted(want - got)[:5], "extra", sorted(got - want)[:5])

    def same_scores() -> bool:
        latest = stack.latest_scores()
        return all(
            w in latest and latest[w]["flags"] == r["flags"] and latest[w]["as_of"] == r["as_of"]
            for w, r in expected_scores.items()
        )

    wait_until(same_scores, 120, "final records with the flags of vigil replay", interval_s=2.0)
    latest = stack.latest_scores()
    for w, rec in expected_scores.items():
        assert_close(latest[w], rec)
    for w in workers_of(truth, "sanctioned_direct"):
        assert latest[w]["band"] == "blocked", (w, latest[w])
        assert latest[w]["reasons"][0] == "SANCTIONED_PAYOUT"
    for w in workers_of(truth, "sanctioned_linked"):
        assert latest[w]["band"] in ("review", "blocked"), (w, latest[w])
    for w in workers_of(truth, "decoy"):
        assert not (set(latest[w]["flags"]) & {"SANCTIONED_PAYOUT", "SANCTIONED_LINKED_PAYOUT"})

    base = "http://127.0.0.1:16081"
    # The alert feed, filtered.
    wait_until(
        lambda: http("GET", f"{base}/alerts?limit=1000")[1]["count"] == len(want),  # type: ignore[index]
        60,
        "the alert log to catch up",
    )
    status, body = http("GET", f"{base}/alerts?kind=sanctions&limit=1000")
    assert status == 200
    assert {a["kind"] for a in body["alerts"]} == {"sanctions"}  # type: ignore[index]
    assert http("GET", f"{base}/alerts?severity=urgent")[0] == 400
    assert http("GET", f"{base}/alerts?since=yesterday")[0] == 400

    # Pre-payout check of a listed wallet and of a linked one.
    direct = next(a for a in expected_alerts if a["type"] == "SANCTIONED_PAYOUT")
    status, exposure = http("GET", f"{base}/wallets/{direct['wallet']}/exposure")
    assert status == 200 and exposure["listed"] is True  # type: ignore[index]
    assert direct["worker_id"] in exposure["workers"]  # type: ignore[index]
    linked = next(a for a in expected_alerts if a["type"] == "SANCTIONED_LINKED_PAYOUT")
    status, exposure = http("GET", f"{base}/wallets/{linked['wallet']}/exposure")
    assert status == 200 and exposure["linked"] is True  # type: ignore[index]
    assert 1 <= exposure["path"]["n_hops"] <= 2  # type: ignore[index]
    assert http("GET", f"{base}/wallets/0xnot-an-address/exposure")[0] == 400

    # An analyst resolves a shared-wallet alert: the flag leaves the worker's record.
    shared = next(a for a in expected_alerts if a["type"] == "SHARED_WALLET")
    worker = shared["worker_id"]
    assert http("POST", f"{base}/alerts/{shared['alert_id']}/resolve", {"note": "x"})[0] == 400
    assert http("POST", f"{base}/alerts/nope/resolve", {"disposition": "benign"})[0] == 404
    status, body = http(
        "POST",
        f"{base}/alerts/{shared['alert_id']}/resolve",
        {"disposition": "confirmed", "note": "same operator, checked by hand"},
    )
    assert status == 202 and body["status"] == "resolved"  # type: ignore[index]

    others = [
        a
        for a in expected_alerts
        if a["worker_id"] == worker and a["type"] == "SHARED_WALLET" and a is not shared
    ]
    assert not others, "pick a worker with one shared-wallet alert"

    def flag_closed() -> bool:
        return "SHARED_WALLET" not in stack.latest_scores()[worker]["flags"]

    wait_until(flag_closed, 60, "the resolved alert to leave the worker's flags")
    status, body = http("GET", f"{base}/alerts?status=resolved&type=SHARED_WALLET")
    assert status == 200
    assert [a["alert_id"] for a in body["alerts"]] == [shared["alert_id"]]  # type: ignore[index]
    assert body["alerts"][0]["resolution"]["disposition"] == "confirmed"  # type: ignore[index]
    # A simulated takeover: its drift alerts put it in review; resolving them clears it.
    both = [
        w
        for w in workers_of(truth, "takeover")
        if {"ACTIVITY_HOURS_SHIFT", "CONTEXT_SHIFT"}
        <= {a["type"] for a in expected_alerts if a["worker_id"] == w}
    ]
    assert both, "some takeover raises both an hours and a context shift"
    takeover = both[0]
    mine = [a for a in expected_alerts if a["worker_id"] == takeover]
    assert all(a["kind"] == "drift" for a in mine)
    hours = next(a for a in mine if a["type"] == "ACTIVITY_HOURS_SHIFT")
    assert hours["evidence"] and hours["event_ids"]
    assert latest[takeover]["band"] == "review"
    assert "ACTIVITY_HOURS_SHIFT" in latest[takeover]["reasons"]
    for a in mine:
        status, _ = http(
            "POST",
            f"{base}/alerts/{a['alert_id']}/resolve",
            {"disposition": "confirmed", "note": "operator changed; account suspended"},
        )
        assert status == 202
    wait_until(
        lambda: (
            stack.latest_scores()[takeover]["flags"] == []
            and stack.latest_scores()[takeover]["band"] not in ("review", "blocked")
        ),
        60,
        "the takeover's record to drop its resolved alerts",
    )
    status, explained = http("GET", f"{base}/workers/{direct['worker_id']}/explain")
    assert status == 200
    assert any(a["type"] == "SANCTIONED_PAYOUT" for a in explained["open_alerts"])  # type: ignore[index]
