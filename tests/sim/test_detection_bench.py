"""bench/detection.py: metrics on synthetic score and alert files (no engine needed)."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sim.generate import Simulation
from sim.output import write_simulation
from tests.sim.checks import ts

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    # bench/ is a folder of scripts, not a package: load the file as a module.
    path = REPO / "bench" / "detection.py"
    spec = importlib.util.spec_from_file_location("bench_detection", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def _time(t: int) -> str:
    from sim.times import format_time

    return format_time(t)


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _scores(workers: dict[str, Any]) -> list[dict[str, Any]]:
    records = []
    for wid, rec in workers.items():
        bad = rec["bad"]
        # An older record first: the benchmark must take the latest one.
        records.append(
            {"worker_id": wid, "as_of": "2026-09-02T00:00:00Z", "score": 0.5, "band": "new"}
        )
        records.append(
            {
                "worker_id": wid,
                "as_of": "2026-10-01T00:00:00Z",
                "score": 0.2 if bad else 0.8,
                "band": "review" if bad else "standard",
            }
        )
    return records


def test_auc_matches_brute_force(bench: ModuleType) -> None:
    rng = random.Random(3)
    good = [round(rng.random(), 1) for _ in range(40)]
    bad = [round(rng.random() * 0.8, 1) for _ in range(25)]
    brute = sum((g > b) + 0.5 * (g == b) for g in good for b in bad) / (len(good) * len(bad))
    assert bench.auc(good, bad) == pytest.approx(brute)
    assert bench.auc([1.0], [0.0]) == 1.0
    assert bench.auc([], [0.1]) is None


def test_metrics_on_synthetic_alerts(bench: ModuleType, run: Simulation, tmp_path: Path) -> None:
    write_simulation(run, tmp_path)
    workers: dict[str, Any] = run.truth["workers"]  # type: ignore[assignment]
    alerts: list[dict[str, Any]] = []
    takeovers = [w for w, r in workers.items() if r["kind"] == "takeover"]
    for wid in takeovers:
        change = ts(workers[wid]["change_time"])
        alerts.append(
            {
                "alert_id": f"a-{wid}",
                "kind": "drift",
                "type": "ACTIVITY_HOURS_SHIFT",
                "worker_id": wid,
                "wallet": None,
                "detected_at": _time(change + 86_400),
            }
        )
    traveller = next(w for w, r in workers.items() if r["kind"] == "traveller")
    alerts.append(
        {
            "alert_id": "a-t",
            "kind": "drift",
            "type": "CONTEXT_SHIFT",
            "worker_id": traveller,
            "wallet": None,
            "detected_at": "2026-09-20T00:00:00Z",
        }
    )
    # A wallet-level alert reaches every member of a shared-wallet ring.
    ring = [
        w for w, r in workers.items() if r["kind"] == "ring" and r["variant"] == "shared_wallet"
    ]
    wallet = workers[ring[0]]["wallet"]
    members = [w for w in ring if workers[w]["wallet"] == wallet]
    latest = max(ts(workers[w]["change_time"]) for w in members)
    alerts.append(
        {
            "alert_id": "a-r",
            "kind": "drift",
            "type": "SHARED_WALLET",
            "worker_id": None,
            "wallet": wallet,
            "detected_at": _time(latest),
        }
    )
    scores = _write_jsonl(tmp_path / "S.jsonl", _scores(workers))
    alerts_path = _write_jsonl(tmp_path / "A.jsonl", alerts)
    out = tmp_path / "r.json"
    assert (
        bench.main(
            [
                "--evaluate",
                str(tmp_path),
                "--scores",
                str(scores),
                "--alerts",
                str(alerts_path),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())["pooled"]
    kinds = result["kinds"]
    n_travellers = kinds["traveller"]["n"]
    assert kinds["takeover"]["recall"] == 1.0
    assert kinds["takeover"]["precision"] == pytest.approx(len(takeovers) / (len(takeovers) + 1))
    assert kinds["takeover"]["delay_h_median"] == pytest.approx(24.0)
    assert 0 <= kinds["takeover"]["delay_active_days_median"] <= 1
    assert kinds["traveller"]["false_alarm_rate"] == pytest.approx(1 / n_travellers)
    assert kinds["honest"]["false_alarm_rate"] == 0.0
    assert kinds["ring"]["detected"] == len(members)
    assert kinds["sanctioned_direct"]["recall"] == 0.0
    assert result["auc_bad_vs_honest"] == 1.0
    assert kinds["takeover"]["flagged_band"] == 1.0


def test_empty_alerts_mean_zero_recall(
    bench: ModuleType, run: Simulation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_simulation(run, tmp_path)
    scores = _write_jsonl(tmp_path / "S.jsonl", _scores(run.truth["workers"]))  # type: ignore[arg-type]
    alerts = tmp_path / "A.jsonl"
    alerts.write_text("")
    out = tmp_path / "r.json"
    assert (
        bench.main(
            [
                "--evaluate",
                str(tmp_path),
                "--scores",
                str(scores),
                "--alerts",
                str(alerts),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())["pooled"]
    for stats in result["kinds"].values():
        if stats["bad"]:
            assert stats["recall"] == 0.0 and stats["precision"] is None
        else:
            assert stats["false_alarm_rate"] == 0.0
    printed = capsys.readouterr().out
    assert "| takeover |" in printed and "No alerts" in printed
