"""Detection benchmark: simulate a platform, replay it through Vigil, score against truth.

For each seed: generate a run with the simulator (in process) into a temporary
directory, run ``vigil replay DIR/events.jsonl --scores S --alerts A``, then
compare the final scores and the alerts with ``DIR/truth.json``.

    python bench/detection.py --seeds 1 2 --workers 1000 --days 60 --json results.json
    python bench/detection.py --evaluate DIR --scores S.jsonl --alerts A.jsonl

Metrics (per worker kind; seeds are pooled):

- recall: bad workers with at least one alert of a type in their ``expected_alerts``
  detected at or after their ``change_time``, over all bad workers of the kind;
- precision: TP / (TP + FP), FP = good workers (honest and traps) with an alert
  of one of the kind's expected types;
- delay: detection time minus ``change_time``, in hours and in active days (the
  worker's distinct UTC days with a task after the change day, up to and
  including the detection day; 0 = detected on the day of the change), median and p90;
- false-alarm rate (good kinds): workers with any alert, over workers of the kind;
- AUC: probability that an honest worker's final score is higher than a bad
  worker's (Mann-Whitney U with ties counted half), overall and per bad kind;
- flagged: share of workers whose final band is ``review`` or ``blocked``.

Alerts with no ``worker_id`` are attributed through ``wallet`` to the workers
truth.json lists for that address (a shared or consolidation wallet).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DAY = 86_400


def ts(text: str) -> int:
    """Unix seconds of an RFC 3339 time."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file (a missing or empty file has none)."""
    if not path.is_file():
        return []
    with path.open("rb") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def active_days(events_path: Path) -> dict[str, list[int]]:
    """Sorted UTC day numbers on which each worker completed a task."""
    days: dict[str, set[int]] = defaultdict(set)
    with events_path.open("rb") as fh:
        for line in fh:
            if not line.startswith(b'{"topic":"tasks"'):
                continue
            event = json.loads(line)["event"]
            if "worker_id" in event and "completed_at" in event:
                try:
                    days[event["worker_id"]].add(ts(event["completed_at"]) // DAY)
                except ValueError:  # a deliberately invalid event
                    continue
    return {w: sorted(d) for w, d in days.items()}


def final_scores(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest trust record per worker (by ``as_of``, then file order)."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in records:
        wid = rec.get("worker_id")
        if not isinstance(wid, str):
            continue
        old = latest.get(wid)
        if old is None or ts(rec.get("as_of", "1970-01-01T00:00:00Z")) >= ts(
            old.get("as_of", "1970-01-01T00:00:00Z")
        ):
            latest[wid] = rec
    return latest


def attribute(
    alerts: list[dict[str, Any]], truth: dict[str, Any]
) -> tuple[dict[str, list[Any]], int]:
    """Alerts per worker id, and how many alerts could not be tied to any worker."""
    wallets = truth.get("wallets", {})
    per_worker: dict[str, list[dict[str, Any]]] = defaultdict(list)
    orphans = 0
    for alert in alerts:
        wid = alert.get("worker_id")
        if isinstance(wid, str) and wid in truth["workers"]:
            per_worker[wid].append(alert)
            continue
        wallet = str(alert.get("wallet") or "").lower()
        owners = wallets.get(wallet, {}).get("workers", [])
        for owner in owners:
            per_worker[owner].append(alert)
        orphans += not owners
    return per_worker, orphans


def auc(good: list[float], bad: list[float]) -> float | None:
    """P(good score > bad score), ties half (Mann-Whitney U / (n_good * n_bad)).

    >>> auc([0.9, 0.8], [0.1, 0.2]), auc([0.5], [0.5]), auc([], [0.1])
    (1.0, 0.5, None)
    """
    if not good or not bad:
        return None
    values = np.concatenate([np.asarray(good, dtype=float), np.asarray(bad, dtype=float)])
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    # Average ranks over ties.
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_good, n_bad = len(good), len(bad)
    u_good = ranks[:n_good].sum() - n_good * (n_good + 1) / 2
    return float(u_good / (n_good * n_bad))


@dataclass
class Row:
    """What happened to one worker of one seed."""

    seed: int
    worker_id: str
    kind: str
    bad: bool
    expected: set[str]
    change_ts: int | None
    alert_types: set[str] = field(default_factory=set)
    detected_ts: int | None = None
    delay_h: float | None = None
    delay_active_days: int | None = None
    early_alert: bool = False
    score: float | None = None
    band: str | None = None


def worker_rows(
    seed: int,
    truth: dict[str, Any],
    scores: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    days: dict[str, list[int]],
) -> tuple[list[Row], int]:
    """One `Row` per worker of a run, and the number of unattributed alerts."""
    latest = final_scores(scores)
    per_worker, orphans = attribute(alerts, truth)
    rows: list[Row] = []
    for wid, rec in truth["workers"].items():
        change = ts(rec["change_time"]) if rec.get("change_time") else None
        row = Row(seed, wid, rec["kind"], bool(rec["bad"]), set(rec["expected_alerts"]), change)
        mine = per_worker.get(wid, [])
        row.alert_types = {str(a.get("type")) for a in mine}
        hits = sorted(
            ts(a["detected_at"])
            for a in mine
            if a.get("type") in row.expected and (change is None or ts(a["detected_at"]) >= change)
        )
        row.early_alert = any(
            a.get("type") in row.expected and change is not None and ts(a["detected_at"]) < change
            for a in mine
        )
        if row.bad and hits:
            row.detected_ts = hits[0]
            if change is not None:
                row.delay_h = (hits[0] - change) / 3600
                change_day, detect_day = change // DAY, hits[0] // DAY
                row.delay_active_days = sum(
                    1 for d in days.get(wid, []) if change_day < d <= detect_day
                )
        score = latest.get(wid)
        if score is not None:
            row.score = float(score["score"])
            row.band = score.get("band")
        rows.append(row)
    return rows, orphans


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarize(rows: list[Row], kinds: list[str]) -> dict[str, Any]:
    """Per-kind metrics over rows (possibly pooled over seeds)."""
    good = [r for r in rows if not r.bad]
    honest_scores = [r.score for r in rows if r.kind == "honest" and r.score is not None]
    good_scores = [r.score for r in good if r.score is not None]
    bad_scores = [r.score for r in rows if r.bad and r.score is not None]
    out: dict[str, Any] = {
        "workers": len(rows),
        "scored": sum(r.score is not None for r in rows),
        "alerted_workers": sum(bool(r.alert_types) for r in rows),
        "auc_bad_vs_honest": auc(honest_scores, bad_scores),
        "auc_bad_vs_all_good": auc(good_scores, bad_scores),
        "false_alarm_rate_good": (
            sum(bool(r.alert_types) for r in good) / len(good) if good else None
        ),
        "kinds": {},
    }
    for kind in kinds:
        mine = [r for r in rows if r.kind == kind]
        if not mine:
            continue
        stats: dict[str, Any] = {"n": len(mine), "bad": mine[0].bad}
        scores = [r.score for r in mine if r.score is not None]
        stats["mean_score"] = float(np.mean(scores)) if scores else None
        stats["flagged_band"] = (
            sum(r.band in ("review", "blocked") for r in mine) / len(mine) if mine else None
        )
        by_type: dict[str, int] = defaultdict(int)
        for r in mine:
            for t in r.alert_types:
                by_type[t] += 1
        stats["alerted_by_type"] = dict(sorted(by_type.items()))
        if mine[0].bad:
            expected = set().union(*(r.expected for r in mine))
            tp = sum(r.detected_ts is not None for r in mine)
            fp = sum(bool(r.alert_types & expected) for r in good)
            delays = [r.delay_h for r in mine if r.delay_h is not None]
            active = [float(r.delay_active_days) for r in mine if r.delay_active_days is not None]
            stats.update(
                recall=tp / len(mine),
                precision=tp / (tp + fp) if tp + fp else None,
                detected=tp,
                false_positive_good_workers=fp,
                alerts_before_change=sum(r.early_alert for r in mine),
                delay_h_median=_pct(delays, 50),
                delay_h_p90=_pct(delays, 90),
                delay_active_days_median=_pct(active, 50),
                delay_active_days_p90=_pct(active, 90),
                auc_vs_honest=auc(honest_scores, scores),
            )
        else:
            stats["false_alarm_rate"] = sum(bool(r.alert_types) for r in mine) / len(mine)
        out["kinds"][kind] = stats
    return out


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(summary: dict[str, Any]) -> str:
    """The per-kind summary as a Markdown table."""
    lines = [
        "| kind | n | bad | recall | precision | delay h (med / p90) | active days (med / p90) "
        "| false alarms | AUC vs honest | review/blocked | mean score |",
        "|---|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, s in summary["kinds"].items():
        if s["bad"]:
            cells = [
                _fmt(s["recall"]),
                _fmt(s["precision"]),
                f"{_fmt(s['delay_h_median'], 1)} / {_fmt(s['delay_h_p90'], 1)}",
                f"{_fmt(s['delay_active_days_median'], 1)} / {_fmt(s['delay_active_days_p90'], 1)}",
                "",
                _fmt(s["auc_vs_honest"]),
            ]
        else:
            cells = ["", "", "", "", _fmt(s["false_alarm_rate"]), ""]
        lines.append(
            f"| {kind} | {s['n']} | {'yes' if s['bad'] else ''} | "
            + " | ".join(cells)
            + f" | {_fmt(s['flagged_band'])} | {_fmt(s['mean_score'])} |"
        )
    lines.append("")
    lines.append(
        f"AUC bad vs honest: {_fmt(summary['auc_bad_vs_honest'], 3)}; bad vs all good: "
        f"{_fmt(summary['auc_bad_vs_all_good'], 3)}; false-alarm rate over all good workers: "
        f"{_fmt(summary['false_alarm_rate_good'], 3)}; workers alerted: "
        f"{summary['alerted_workers']} of {summary['workers']} ({summary['scored']} scored)."
    )
    return "\n".join(lines)


def evaluate_dir(
    seed: int, run_dir: Path, scores: Path, alerts: Path
) -> tuple[list[Row], dict[str, Any]]:
    """Rows and bookkeeping for one simulated run and the engine's output files."""
    truth = json.loads((run_dir / "truth.json").read_text())
    score_records, alert_records = read_jsonl(scores), read_jsonl(alerts)
    rows, orphans = worker_rows(
        seed, truth, score_records, alert_records, active_days(run_dir / "events.jsonl")
    )
    info = {
        "seed": seed,
        "score_records": len(score_records),
        "alerts": len(alert_records),
        "unattributed_alerts": orphans,
        "kinds": list(truth["workers"][w]["kind"] for w in truth["workers"]),
    }
    return rows, info


def simulate_into(seed: int, workers: int, days: int, out: Path) -> float:
    """Generate a run in process; return the generation time in seconds."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from sim.config import SimConfig
    from sim.generate import simulate
    from sim.output import load_sanctions_lists, write_simulation

    began = time.perf_counter()
    run = simulate(SimConfig(seed=seed, workers=workers, days=days), load_sanctions_lists())
    took = time.perf_counter() - began
    write_simulation(run, out)
    return took


def replay(vigil: str, run_dir: Path, scores: Path, alerts: Path) -> float:
    """Run ``vigil replay`` over the run; return its wall time. Exits on failure."""
    truth = json.loads((run_dir / "truth.json").read_text())
    # The engine rejects events far in the future of "now": replay as of the run's end.
    now = datetime.fromisoformat(truth["end"].replace("Z", "+00:00")) + timedelta(days=1)
    cmd = [
        vigil,
        "replay",
        str(run_dir / "events.jsonl"),
        "--scores",
        str(scores),
        "--alerts",
        str(alerts),
        "--now",
        now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--quiet",
    ]
    # The platform's operator knows the exchanges' hot wallets: configure them as services.
    env = dict(os.environ)
    env["VIGIL_SERVICE_ADDRESSES"] = ",".join(truth.get("service_addresses", {}).values())
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    took = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"vigil replay failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return took


KIND_ORDER = [
    "takeover",
    "ring",
    "sanctioned_direct",
    "sanctioned_linked",
    "sanctioned_retroactive",
    "quality_decline",
    "honest",
    "traveller",
    "night_owl",
    "wallet_change_legit",
    "many_ips",
    "decoy",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--vigil", default=str(REPO / ".venv" / "bin" / "vigil"))
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument(
        "--keep", type=Path, help="keep each run in KEEP/seed-N instead of a temp dir"
    )
    parser.add_argument(
        "--evaluate",
        type=Path,
        metavar="DIR",
        help="only score an existing run DIR with --scores and --alerts",
    )
    parser.add_argument("--scores", type=Path, help="with --evaluate: the scores JSONL")
    parser.add_argument("--alerts", type=Path, help="with --evaluate: the alerts JSONL")
    args = parser.parse_args(argv)

    all_rows: list[Row] = []
    runs: list[dict[str, Any]] = []
    if args.evaluate:
        if args.scores is None or args.alerts is None:
            parser.error("--evaluate needs --scores and --alerts")
        truth = json.loads((args.evaluate / "truth.json").read_text())
        rows, info = evaluate_dir(int(truth["seed"]), args.evaluate, args.scores, args.alerts)
        all_rows += rows
        runs.append({k: v for k, v in info.items() if k != "kinds"})
    else:
        with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
            base = args.keep or Path(tmp)
            for seed in args.seeds:
                run_dir = base / f"seed-{seed}"
                generate_s = simulate_into(seed, args.workers, args.days, run_dir)
                scores, alerts = run_dir / "scores.jsonl", run_dir / "alerts.jsonl"
                replay_s = replay(args.vigil, run_dir, scores, alerts)
                rows, info = evaluate_dir(seed, run_dir, scores, alerts)
                all_rows += rows
                info = {k: v for k, v in info.items() if k != "kinds"}
                info.update(generate_s=round(generate_s, 2), replay_s=round(replay_s, 2))
                runs.append(info)
                print(
                    f"seed {seed}: generated in {generate_s:.1f}s, replayed in {replay_s:.1f}s, "
                    f"{info['alerts']} alerts",
                    file=sys.stderr,
                )

    summary = summarize(all_rows, KIND_ORDER)
    per_seed = {
        str(s): summarize([r for r in all_rows if r.seed == s], KIND_ORDER)
        for s in sorted({r.seed for r in all_rows})
    }
    print(markdown(summary))
    if summary["alerted_workers"] == 0:
        print("\nNo alerts in the alerts file(s): recall is 0 for every kind.")
    if args.json:
        result = {
            "parameters": {"seeds": args.seeds, "workers": args.workers, "days": args.days},
            "runs": runs,
            "pooled": summary,
            "per_seed": per_seed,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
