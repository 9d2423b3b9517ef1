"""bench/detection.py: evaluation logic on small hand-made inputs, seed roles, shuffle check."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import detection as bench
import pytest

T0 = 1_790_000_000  # 2026-09-21


def _row(
    wid: str,
    kind: str = "honest",
    bad: bool = False,
    expected: tuple[str, ...] = (),
    change: int | None = None,
    traits: tuple[str, ...] = (),
    alerts: tuple[tuple[str, int], ...] = (),
    score: float | None = None,
) -> Any:
    row = bench.Row(1, wid, kind, bad, set(expected), change, traits=list(traits))
    for t, at in alerts:
        row.alert_types.add(t)
        row.first_alert[t] = min(row.first_alert.get(t, at), at)
        if change is None or at >= change:
            row.after_change.add(t)
            if t in row.expected and bad:
                row.detected_ts = at if row.detected_ts is None else min(row.detected_ts, at)
    row.score = score
    return row


def test_false_alarms_per_trait() -> None:
    rows = [
        _row("w-1", traits=("dst", "exchange_user"), alerts=(("CONTEXT_SHIFT", T0),)),
        _row("w-2", traits=("dst",)),
        _row("w-3", traits=("exchange_user",), alerts=(("SANCTIONED_LINKED_PAYOUT", T0),)),
        _row("w-4", traits=("exchange_user",)),
        _row("w-5"),
        _row("w-6", alerts=(("QUALITY_SHIFT", T0),)),
        # A bad worker with a trait does not count towards the trait's false alarms.
        _row("w-7", "takeover", True, ("CONTEXT_SHIFT",), T0, ("dst",), (("CONTEXT_SHIFT", T0),)),
    ]
    out = bench.trait_false_alarms(rows)
    assert out["dst"] == {
        "workers": 2,
        "alerted": 1,
        "false_alarm_rate": 0.5,
        "alert_types": {"CONTEXT_SHIFT": 1},
    }
    assert out["exchange_user"]["workers"] == 3
    assert out["exchange_user"]["alerted"] == 2
    assert out["exchange_user"]["alert_types"] == {
        "CONTEXT_SHIFT": 1,
        "SANCTIONED_LINKED_PAYOUT": 1,
    }
    assert out["(none)"]["workers"] == 2 and out["(none)"]["false_alarm_rate"] == 0.5


def test_precision_per_family() -> None:
    hours = ("ACTIVITY_HOURS_SHIFT",)
    rows = [
        _row("w-1", "takeover", True, hours, T0, alerts=(("ACTIVITY_HOURS_SHIFT", T0 + 5),)),
        _row("w-2", "laptop_farm", True, hours, T0, alerts=(("ACTIVITY_HOURS_SHIFT", T0 - 5),)),
        _row("w-3", "ring", True, ("SHARED_WALLET",), T0, alerts=(("ACTIVITY_HOURS_SHIFT", T0),)),
        _row("w-4", "traveller", alerts=(("ACTIVITY_HOURS_SHIFT", T0),)),
        _row("w-5", "honest", alerts=(("ACTIVITY_HOURS_SHIFT", T0), ("SHARED_WALLET", T0))),
        _row("w-6", "laptop_farm", True, hours, T0),
    ]
    fam = bench.family_precision(rows)
    h = fam["drift-hours"]
    assert h["alerted_workers"] == 5
    assert h["true_positives"] == 1
    assert (h["good"], h["bad_unexpected"], h["bad_early"]) == (2, 1, 1)
    assert h["precision"] == pytest.approx(1 / 5)
    assert h["recall"] == pytest.approx(1 / 3)  # w-1, w-2, w-6 expect it; only w-1 in time
    assert h["good_by_kind"] == {"honest": 1, "traveller": 1}
    w = fam["shared-wallet"]
    assert (w["alerted_workers"], w["true_positives"], w["good"]) == (1, 0, 1)
    assert fam["sanctions-direct"]["precision"] is None


def test_summary_headline_numbers() -> None:
    rows = [_row(f"h-{i}", score=0.9) for i in range(198)]
    rows.append(_row("h-x", alerts=(("CONTEXT_SHIFT", T0),), score=0.4))
    rows.append(_row("h-y", "traveller", traits=("traveller",), score=0.8))
    rows.append(
        _row("b-1", "takeover", True, ("CONTEXT_SHIFT",), T0, (), (("CONTEXT_SHIFT", T0),), 0.1)
    )
    rows.append(_row("b-2", "takeover", True, ("CONTEXT_SHIFT",), T0, score=0.95))
    s = bench.summarize(rows, bench.KIND_ORDER)
    assert s["good_workers"] == 200 and s["good_alerted"] == 1
    assert s["false_alarm_rate_good"] == pytest.approx(0.005)
    assert s["kinds"]["takeover"]["recall"] == 0.5
    assert s["recall_bad"] == 0.5
    assert s["traits"]["traveller"]["false_alarm_rate"] == 0.0
    # b-1 below every honest score, b-2 above all but none: AUC = (199 + 0) / (2 * 199)
    assert s["auc_bad_vs_honest"] == pytest.approx(0.5 + 0.5 * (1 / 199), abs=0.01)
    assert s["spearman_score_vs_good"] is not None
    text = bench.markdown(s)
    assert "| traveller | 1 | 0 |" in text and "meets" in text


def test_spearman() -> None:
    assert bench.spearman([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]) == pytest.approx(1.0)
    assert bench.spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert bench.spearman([0.5, 0.5], [0.0, 1.0]) is None


def _score(wid: str, value: float, as_of: str = "2026-10-01T00:00:00Z") -> dict[str, Any]:
    return {"worker_id": wid, "as_of": as_of, "score": value}


def _alert(t: str, wid: str | None, at: str, wallet: str | None = None) -> dict[str, Any]:
    return {"type": t, "worker_id": wid, "wallet": wallet, "detected_at": at}


def test_compare_outputs_counts_score_and_alert_differences() -> None:
    a_scores = [_score("w-1", 0.1, "2026-09-01T00:00:00Z"), _score("w-1", 0.5), _score("w-2", 0.7)]
    b_scores = [_score("w-1", 0.5 + 1e-12), _score("w-2", 0.6), _score("w-3", 0.2)]
    a_alerts = [
        _alert("CONTEXT_SHIFT", "w-1", "2026-09-10T00:00:00Z"),
        _alert("SHARED_WALLET", None, "2026-09-11T00:00:00Z", "0xAB"),
    ]
    b_alerts = [
        _alert("CONTEXT_SHIFT", "w-1", "2026-09-10T00:00:01Z"),
        _alert("SHARED_WALLET", None, "2026-09-11T00:00:00Z", "0xab"),
    ]
    out = bench.compare_outputs(a_scores, a_alerts, b_scores, b_alerts)
    assert out["workers_compared"] == 3
    assert out["score_differs"] == 2  # w-2 by 0.1, w-3 only in b; w-1 within 1e-9
    assert out["max_score_diff"] == pytest.approx(0.1)
    assert out["alerts_only_in_a"] == [["CONTEXT_SHIFT", "w-1", "2026-09-10T00:00:00Z"]]
    assert out["alerts_only_in_b"] == [["CONTEXT_SHIFT", "w-1", "2026-09-10T00:00:01Z"]]
    same = bench.compare_outputs(a_scores, a_alerts, a_scores, list(reversed(a_alerts)))
    assert same["score_differs"] == 0 and not same["alerts_only_in_a"]


def test_shuffled_copy_keeps_every_line_and_duplicates_a_share(tmp_path: Path) -> None:
    src = tmp_path / "e.jsonl"
    lines = [f'{{"n": {i}}}\n' for i in range(1000)]
    src.write_text("".join(lines))
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert bench.shuffled_copy(src, a, 7) == 1000
    assert bench.shuffled_copy(src, b, 7, 0.1) == 1100
    bench.shuffled_copy(src, c, 7, 0.1)
    got_a = a.read_text().splitlines(keepends=True)
    assert sorted(got_a) == sorted(lines) and got_a != lines
    got_b = Counter(b.read_text().splitlines(keepends=True))
    assert set(got_b) == set(lines) and sum(got_b.values()) == 1100
    assert sum(1 for n in got_b.values() if n == 2) == 100
    assert b.read_bytes() == c.read_bytes()  # seeded


def test_a_seed_cannot_be_both_calibration_and_report() -> None:
    with pytest.raises(SystemExit):
        bench.main(["--calibrate-seeds", "1", "2", "--report-seeds", "2", "3"])


def test_replay_takes_nothing_from_truth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen["cmd"], seen["env"] = cmd, kwargs.get("env")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.delenv("VIGIL_SERVICE_ADDRESSES", raising=False)
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    events = tmp_path / "events.jsonl"
    events.write_text("")
    bench.replay(["vigil"], events, "2026-10-01T00:00:00Z", tmp_path / "s", tmp_path / "a")
    assert "VIGIL_SERVICE_ADDRESSES" not in seen["env"]
    assert {k: v for k, v in seen["env"].items() if k != "PYTHONPATH"} == {
        k: v for k, v in os.environ.items() if k != "PYTHONPATH"
    }
    assert seen["cmd"][:3] == ["vigil", "replay", str(events)]
    source = (Path(bench.__file__)).read_text()
    assert "service_addresses" not in source.split("def replay")[1].split("def ")[0]


_FAKE_ENGINE = r"""
import json, sys
args = sys.argv[1:]
assert args[0] == "replay"
events, scores, alerts = args[1], args[args.index("--scores") + 1], args[args.index("--alerts") + 1]
first = {}
n = 0
for i, line in enumerate(open(events, "rb")):
    rec = json.loads(line)
    n += 1
    wid = rec["event"].get("worker_id")
    if rec["topic"] == "tasks" and wid and wid not in first:
        first[wid] = i
# An order-dependent engine: the score is where the worker's first task sits in the file.
with open(scores, "w") as fh:
    for wid, i in sorted(first.items()):
        fh.write(json.dumps({"worker_id": wid, "as_of": "2026-09-05T00:00:00Z",
                             "score": i / n, "band": "standard"}) + "\n")
with open(alerts, "w") as fh:
    wid = min(first, key=first.get)
    fh.write(json.dumps({"type": "CONTEXT_SHIFT", "worker_id": wid, "wallet": None,
                         "detected_at": "2026-09-02T00:00:00Z"}) + "\n")
"""


def test_end_to_end_with_an_order_dependent_engine(tmp_path: Path) -> None:
    engine = tmp_path / "fake-vigil"
    engine.write_text(f"#!{sys.executable}\n{_FAKE_ENGINE}")
    engine.chmod(engine.stat().st_mode | stat.S_IXUSR)
    out = tmp_path / "r.json"
    argv = [
        "--calibrate-seeds", "3",
        "--report-seeds", "4",
        "--workers", "40",
        "--days", "6",
        "--vigil", str(engine),
        "--json", str(out),
        "--quiet",
    ]  # fmt: skip
    assert bench.main(argv) == 0
    result = json.loads(out.read_text())
    assert result["parameters"]["report_seeds"] == [4]
    assert result["parameters"]["calibration_seeds"] == [3]
    assert {r["seed"]: r["role"] for r in result["runs"]} == {3: "calibration", 4: "report"}
    assert result["report"]["workers"] == 40 and result["calibration"]["workers"] == 40
    for seed in ("3", "4"):
        for variant in ("shuffled", "shuffled+10%dup"):
            check = result["shuffle"][seed][variant]
            assert check["score_differs"] > 0 and check["max_score_diff"] > 0
    assert result["runs"][0]["population"]["randomised"] is True


def test_an_expected_type_has_its_own_time(tmp_path: Path) -> None:
    truth = {
        "workers": {
            "w-1": {
                "kind": "ring",
                "bad": True,
                "expected_alerts": ["SHARED_DEVICE", "SHARED_WALLET"],
                "expected_alert_times": {
                    "SHARED_DEVICE": "2026-09-02T00:00:00Z",
                    "SHARED_WALLET": "2026-09-10T00:00:00Z",
                },
                "change_time": "2026-09-10T00:00:00Z",
                "traits": [],
            }
        },
        "wallets": {},
    }
    alerts = [_alert("SHARED_DEVICE", "w-1", "2026-09-03T00:00:00Z")]
    rows, _ = bench.worker_rows(1, truth, [], alerts, {})
    (row,) = rows
    assert row.detected_ts is not None and not row.early_alert
    assert row.delay_h == pytest.approx(24.0)
    assert bench.family_precision(rows)["shared-device"]["true_positives"] == 1
    early = [_alert("SHARED_WALLET", "w-1", "2026-09-03T00:00:00Z")]
    (row,) = bench.worker_rows(1, truth, [], early, {})[0]
    assert row.detected_ts is None and row.early_alert
