"""Detection benchmark: simulate a platform, replay it through Vigil, score against truth.

For each seed: generate a run with the simulator (in process, with that seed's
randomised population parameters) into a directory, run ``vigil replay
DIR/events.jsonl --scores S --alerts A`` with the engine's own configuration,
then compare the final scores and the alerts with ``DIR/truth.json``.

    python bench/detection.py --calibrate-seeds 1 2 --report-seeds 1001 1002 \\
        --workers 1000 --days 90 --json results.json
    python bench/detection.py --evaluate DIR --scores S.jsonl --alerts A.jsonl

How to benchmark honestly
-------------------------
- Nothing about the run is configured from ``truth.json``: the engine sees the
  events and its shipped defaults (``config/``) only. Service addresses,
  listed-address neighbourhoods, worker kinds and change times are ground truth
  for scoring, never input. The simulator's services have generated addresses,
  so an engine can only recognise them by their traffic.
- Seeds come in two roles. Calibration seeds (``--calibrate-seeds``) are the
  only ones on which thresholds, half-lives, hop depths or any other default may
  be chosen or tuned. Report seeds (``--report-seeds``) are held out: quote
  their numbers, and do not look at them while tuning. A number is valid only if
  it comes from report seeds that were never used for calibration; the report
  lists both sets, and a seed given in both is refused.
- Every seed draws its own population parameters (activity, session structure,
  quality and reviewer noise, timezone mix, payout cadence, wallet habits, trait
  rates, kind shares; see docs/simulator.md). A detector tuned to one seed's
  platform must still hold on another's. ``--fixed-params`` (the nominal
  platform) is for debugging only; its numbers are not a benchmark.
- The honest false-alarm rate (good workers with any alert, target <= 0.5 %) and
  the false alarms per honest trait are the numbers that matter to a platform:
  recall bought with false alarms on travellers, DST workers or exchange users
  is not recall.
- The shuffle check replays the same events shuffled, and shuffled with 10 % of
  them delivered twice; any difference in final scores or alerts is a bug
  against CONTRACT.md's order-independence property, whatever the recall.

Metrics (seeds of one role are pooled):

- recall per bad kind: bad workers with at least one alert of a type in their
  ``expected_alerts`` detected at or after their ``change_time``, over all bad
  workers of the kind, with the delay (hours and active days, median and p90);
- false alarms per honest trait: good workers with the trait with any alert,
  over good workers with the trait, and which alert types they got;
- honest false-alarm rate: good workers (``bad: false``) with any alert;
- precision per alert family (drift-hours, context, quality, velocity,
  wallet-change, shared-wallet, shared-device, sanctions direct / linked /
  retroactive, identity): workers alerted with a type of the family that are bad,
  expect that type and were alerted at or after the change, over all workers
  alerted with the family;
- AUC (P(honest score > bad score), ties half) and Spearman's rho between the
  final score and goodness;
- shuffle check: workers whose final score differs (and the largest difference),
  and alerts (type, worker or wallet, ``detected_at``) present in only one run.

Alerts with no ``worker_id`` are attributed through ``wallet`` to the workers
truth.json lists for that address (a shared or consolidation wallet).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
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


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None if undefined.

    >>> spearman([1, 2, 3], [1, 2, 3]), spearman([1, 2, 3], [3, 2, 1]), spearman([1, 1], [0, 1])
    (1.0, -1.0, None)
    """
    if len(x) < 2 or len(x) != len(y):
        return None
    rx, ry = _ranks(np.asarray(x, dtype=float)), _ranks(np.asarray(y, dtype=float))
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


#: Alert families and their CONTRACT.md alert types.
FAMILIES: dict[str, tuple[str, ...]] = {
    "drift-hours": ("ACTIVITY_HOURS_SHIFT",),
    "context": ("CONTEXT_SHIFT",),
    "quality": ("QUALITY_SHIFT",),
    "velocity": ("VELOCITY_SURGE",),
    "wallet-change": ("PAYOUT_WALLET_CHANGE",),
    "shared-wallet": ("SHARED_WALLET",),
    "shared-device": ("SHARED_DEVICE",),
    "sanctions-direct": ("SANCTIONED_PAYOUT",),
    "sanctions-linked": ("SANCTIONED_LINKED_PAYOUT",),
    "sanctions-retroactive": ("RETROACTIVE_MATCH",),
    "identity": ("SHARED_IDENTITY", "IMPERSONATION_RISK"),
}

#: Target of the honest false-alarm rate (good workers with any alert).
FALSE_ALARM_TARGET = 0.005


@dataclass
class Row:
    """What happened to one worker of one seed."""

    seed: int
    worker_id: str
    kind: str
    bad: bool
    expected: set[str]
    change_ts: int | None
    traits: list[str] = field(default_factory=list)
    alert_types: set[str] = field(default_factory=set)
    #: type -> earliest detected_at (Unix seconds) among the worker's alerts of that type
    first_alert: dict[str, int] = field(default_factory=dict)
    #: types with an alert at or after change_ts (or the type's own expected time)
    after_change: set[str] = field(default_factory=set)
    #: per expected type, the first time truth says it can be seen (default: change_ts)
    expected_ts: dict[str, int] = field(default_factory=dict)

    def due(self, alert_type: str) -> int | None:
        """The time from which an alert of this type is justified."""
        return self.expected_ts.get(alert_type, self.change_ts)

    detected_ts: int | None = None
    delay_h: float | None = None
    delay_active_days: int | None = None
    early_alert: bool = False
    score: float | None = None
    band: str | None = None

    def justified(self, alert_type: str) -> bool:
        """Whether truth expects an alert of this type of this worker, and one came in time."""
        return self.bad and alert_type in self.expected and alert_type in self.after_change


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
        row = Row(
            seed,
            wid,
            rec["kind"],
            bool(rec["bad"]),
            set(rec["expected_alerts"]),
            change,
            traits=list(rec.get("traits", [])),
        )
        row.expected_ts = {
            t: ts(at) for t, at in (rec.get("expected_alert_times") or {}).items() if at
        }
        mine = per_worker.get(wid, [])
        row.alert_types = {str(a.get("type")) for a in mine}
        for a in mine:
            t, at = str(a.get("type")), ts(a["detected_at"])
            row.first_alert[t] = min(row.first_alert.get(t, at), at)
            due = row.due(t)
            if due is None or at >= due:
                row.after_change.add(t)
        hits: list[tuple[int, int | None]] = []  # (detected_at, due) of expected types
        for a in mine:
            t, at = str(a.get("type")), ts(a["detected_at"])
            due = row.due(t)
            if t not in row.expected:
                continue
            if due is None or at >= due:
                hits.append((at, due))
            else:
                row.early_alert = True
        hits.sort()
        if row.bad and hits:
            row.detected_ts, due = hits[0]
            start = due if due is not None else change
            if start is not None:
                row.delay_h = (row.detected_ts - start) / 3600
                change_day, detect_day = start // DAY, row.detected_ts // DAY
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


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def trait_false_alarms(rows: list[Row]) -> dict[str, Any]:
    """Per honest trait: good workers with it, those with any alert, and the alert types.

    Good workers without any trait are reported as ``(none)``.
    """
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.bad:
            continue
        for trait in r.traits or ["(none)"]:
            groups[trait].append(r)
    out: dict[str, Any] = {}
    for trait in sorted(groups):
        mine = groups[trait]
        alerted = [r for r in mine if r.alert_types]
        types = Counter(t for r in alerted for t in r.alert_types)
        out[trait] = {
            "workers": len(mine),
            "alerted": len(alerted),
            "false_alarm_rate": _rate(len(alerted), len(mine)),
            "alert_types": dict(sorted(types.items())),
        }
    return out


def family_precision(rows: list[Row]) -> dict[str, Any]:
    """Per alert family: alerted workers, how many were justified, and who the rest were.

    Justified: a bad worker that expects a type of the family and got it at or
    after its change time. The rest are ``good`` workers (false alarms),
    ``bad_unexpected`` (bad, but not for this reason) or ``bad_early`` (the
    expected type, but before the change).
    """
    out: dict[str, Any] = {}
    for family, types in FAMILIES.items():
        alerted = [r for r in rows if r.alert_types & set(types)]
        tp = [r for r in alerted if any(r.justified(t) for t in types)]
        good = [r for r in alerted if not r.bad]
        early = [r for r in alerted if r.bad and r not in tp and r.expected & set(types)]
        unexpected = [r for r in alerted if r.bad and not r.expected & set(types)]
        expected_total = sum(1 for r in rows if r.bad and r.expected & set(types))
        out[family] = {
            "types": list(types),
            "alerted_workers": len(alerted),
            "true_positives": len(tp),
            "good": len(good),
            "bad_unexpected": len(unexpected),
            "bad_early": len(early),
            "precision": _rate(len(tp), len(alerted)),
            "recall": _rate(len(tp), expected_total),
            "good_by_kind": dict(sorted(Counter(r.kind for r in good).items())),
        }
    return out


def summarize(rows: list[Row], kinds: list[str]) -> dict[str, Any]:
    """Per-kind, per-trait and per-family metrics over rows (possibly pooled over seeds)."""
    good = [r for r in rows if not r.bad]
    honest = [r for r in rows if r.kind == "honest"]
    honest_scores = [r.score for r in honest if r.score is not None]
    good_scores = [r.score for r in good if r.score is not None]
    bad_scores = [r.score for r in rows if r.bad and r.score is not None]
    scored = [r for r in rows if r.score is not None]
    good_alerted = sum(bool(r.alert_types) for r in good)
    out: dict[str, Any] = {
        "workers": len(rows),
        "good_workers": len(good),
        "bad_workers": len(rows) - len(good),
        "scored": len(scored),
        "alerted_workers": sum(bool(r.alert_types) for r in rows),
        "auc_bad_vs_honest": auc(honest_scores, bad_scores),
        "auc_bad_vs_all_good": auc(good_scores, bad_scores),
        "spearman_score_vs_good": spearman(
            [float(r.score) for r in scored if r.score is not None],
            [0.0 if r.bad else 1.0 for r in scored],
        ),
        "false_alarm_rate_good": _rate(good_alerted, len(good)),
        "false_alarm_rate_honest_kind": _rate(
            sum(bool(r.alert_types) for r in honest), len(honest)
        ),
        "false_alarm_target": FALSE_ALARM_TARGET,
        "good_alerted": good_alerted,
        "recall_bad": _rate(
            sum(r.detected_ts is not None for r in rows if r.bad), len(rows) - len(good)
        ),
        "kinds": {},
        "traits": trait_false_alarms(rows),
        "families": family_precision(rows),
    }
    for kind in kinds:
        mine = [r for r in rows if r.kind == kind]
        if not mine:
            continue
        stats: dict[str, Any] = {"n": len(mine), "bad": mine[0].bad}
        scores = [r.score for r in mine if r.score is not None]
        stats["mean_score"] = float(np.mean(scores)) if scores else None
        stats["flagged_band"] = sum(r.band in ("review", "blocked") for r in mine) / len(mine)
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


# --- shuffle check -------------------------------------------------------------------


def alert_key(alert: dict[str, Any]) -> tuple[str, str, str]:
    """An alert's identity for the order-independence property: type, subject, detected_at."""
    subject = alert.get("worker_id") or str(alert.get("wallet") or "").lower()
    return (str(alert.get("type")), str(subject), str(alert.get("detected_at")))


def compare_outputs(
    scores_a: list[dict[str, Any]],
    alerts_a: list[dict[str, Any]],
    scores_b: list[dict[str, Any]],
    alerts_b: list[dict[str, Any]],
    tolerance: float = 1e-9,
) -> dict[str, Any]:
    """Differences between two replays of the same events (CONTRACT.md property 1).

    Returns the workers whose final score differs by more than `tolerance` (or
    who have a final record in only one run), the largest difference, and the
    alerts present in only one of the runs.

    >>> a = [{"worker_id": "w-1", "as_of": "2026-09-01T00:00:00Z", "score": 0.5}]
    >>> b = [{"worker_id": "w-1", "as_of": "2026-09-01T00:00:00Z", "score": 0.75}]
    >>> r = compare_outputs(a, [], b, [{"type": "X", "worker_id": "w-1", "detected_at": "t"}])
    >>> r["score_differs"], r["max_score_diff"], r["alerts_only_in_b"]
    (1, 0.25, [['X', 'w-1', 't']])
    """
    fa, fb = final_scores(scores_a), final_scores(scores_b)
    differs: list[str] = []
    max_diff = 0.0
    for wid in sorted(set(fa) | set(fb)):
        if wid not in fa or wid not in fb:
            differs.append(wid)
            continue
        diff = abs(float(fa[wid]["score"]) - float(fb[wid]["score"]))
        max_diff = max(max_diff, diff)
        if diff > tolerance:
            differs.append(wid)
    ka, kb = {alert_key(a) for a in alerts_a}, {alert_key(b) for b in alerts_b}
    return {
        "workers_compared": len(set(fa) | set(fb)),
        "score_differs": len(differs),
        "score_differs_workers": differs[:50],
        "max_score_diff": max_diff,
        "alerts_a": len(ka),
        "alerts_b": len(kb),
        "alerts_only_in_a": [list(k) for k in sorted(ka - kb)],
        "alerts_only_in_b": [list(k) for k in sorted(kb - ka)],
    }


def shuffled_copy(src: Path, dst: Path, seed: int, duplicate_share: float = 0.0) -> int:
    """Write the lines of `src` to `dst` fully shuffled, with a share of them twice.

    Returns the number of lines written. The shuffle is seeded, so a failing
    check can be reproduced.
    """
    lines = src.read_bytes().splitlines(keepends=True)
    rng = random.Random(seed)  # noqa: S311 - a reproducible shuffle, not cryptography
    if duplicate_share > 0 and lines:
        lines += rng.sample(lines, int(len(lines) * duplicate_share))
    rng.shuffle(lines)
    dst.write_bytes(b"".join(lines))
    return len(lines)


# --- report --------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _types(counts: dict[str, int], top: int = 4) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return ", ".join(f"{k} {v}" for k, v in items)


def markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown tables: bad kinds, good kinds, traits, families."""
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
            cells = ["", "", "", "", _fmt(s["false_alarm_rate"], 3), ""]
        lines.append(
            f"| {kind} | {s['n']} | {'yes' if s['bad'] else ''} | "
            + " | ".join(cells)
            + f" | {_fmt(s['flagged_band'])} | {_fmt(s['mean_score'])} |"
        )
    lines += [
        "",
        "| honest trait | good workers | alerted | false-alarm rate | alert types |",
        "|---|---:|---:|---:|---|",
    ]
    for trait, t in summary["traits"].items():
        lines.append(
            f"| {trait} | {t['workers']} | {t['alerted']} | {_fmt(t['false_alarm_rate'], 3)} "
            f"| {_types(t['alert_types'])} |"
        )
    lines += [
        "",
        "| alert family | alerted workers | justified | good | bad, unexpected | bad, early "
        "| precision | recall |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for family, f in summary["families"].items():
        lines.append(
            f"| {family} | {f['alerted_workers']} | {f['true_positives']} | {f['good']} "
            f"| {f['bad_unexpected']} | {f['bad_early']} | {_fmt(f['precision'])} "
            f"| {_fmt(f['recall'])} |"
        )
    rate = summary["false_alarm_rate_good"]
    verdict = "" if rate is None else (" (meets" if rate <= FALSE_ALARM_TARGET else " (misses")
    lines += [
        "",
        f"Honest false-alarm rate: {_fmt(rate, 4)} of good workers "
        f"({summary['good_alerted']} of {summary['good_workers']}){verdict} the "
        f"{FALSE_ALARM_TARGET:.1%} target{')' if verdict else ''}; kind `honest` only: "
        f"{_fmt(summary['false_alarm_rate_honest_kind'], 4)}. Recall over bad workers: "
        f"{_fmt(summary['recall_bad'], 3)}.",
        f"AUC bad vs honest: {_fmt(summary['auc_bad_vs_honest'], 3)}; bad vs all good: "
        f"{_fmt(summary['auc_bad_vs_all_good'], 3)}; Spearman(score, good): "
        f"{_fmt(summary['spearman_score_vs_good'], 3)}; workers alerted: "
        f"{summary['alerted_workers']} of {summary['workers']} ({summary['scored']} scored).",
    ]
    return "\n".join(lines)


def shuffle_markdown(checks: dict[str, dict[str, Any]]) -> str:
    """The shuffle checks of each seed as a Markdown table."""
    lines = [
        "| seed | variant | workers | score differs | max diff | alerts only in sorted "
        "| alerts only in variant |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for seed, variants in checks.items():
        for name, c in variants.items():
            lines.append(
                f"| {seed} | {name} | {c['workers_compared']} | {c['score_differs']} "
                f"| {c['max_score_diff']:.3g} | {len(c['alerts_only_in_a'])} "
                f"| {len(c['alerts_only_in_b'])} |"
            )
    return "\n".join(lines)


# --- running -------------------------------------------------------------------------


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
        "population": truth.get("parameters", {}).get("population"),
    }
    return rows, info


def simulate_into(seed: int, workers: int, days: int, out: Path, randomise: bool = True) -> float:
    """Generate a run in process; return the generation time in seconds."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from sim.config import SimConfig
    from sim.generate import simulate
    from sim.output import load_sanctions_lists, write_simulation

    began = time.perf_counter()
    cfg = SimConfig(seed=seed, workers=workers, days=days, randomise=randomise)
    run = simulate(cfg, load_sanctions_lists())
    took = time.perf_counter() - began
    write_simulation(run, out)
    return took


def vigil_command(vigil: str | None) -> list[str]:
    """The command that runs ``vigil``: the given one, the repo's venv, or this Python."""
    if vigil:
        return [vigil]
    local = REPO / ".venv" / "bin" / "vigil"
    if local.is_file():
        return [str(local)]
    return [sys.executable, "-m", "streams.cli"]


def replay(
    vigil: list[str], events: Path, end: str, scores: Path, alerts: Path, file_order: bool = False
) -> float:
    """Run ``vigil replay`` over an events file; return its wall time. Exits on failure.

    With `file_order` the events are applied in the file's order (``--file-order``),
    as the engine applies them in arrival order; otherwise replay sorts them by
    event time first, which would make a shuffle check pass trivially.

    The engine runs with its own configuration and the caller's environment:
    nothing is taken from truth.json (see "How to benchmark honestly").
    """
    # The engine rejects events far in the future of "now": replay as of the run's end.
    now = datetime.fromisoformat(end.replace("Z", "+00:00")) + timedelta(days=1)
    cmd = [
        *vigil,
        "replay",
        str(events),
        "--scores",
        str(scores),
        "--alerts",
        str(alerts),
        "--now",
        now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--quiet",
        *(["--file-order"] if file_order else []),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)  # noqa: S603
    took = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"vigil replay failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return took


KIND_ORDER = [
    "takeover",
    "laptop_farm",
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


class Progress:
    """Progress lines on stderr: step n of N, what, and the elapsed time."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.done, self.quiet = total, 0, quiet
        self.began = time.perf_counter()

    def step(self, what: str) -> None:
        """Announce the next step."""
        self.done += 1
        if not self.quiet:
            elapsed = time.perf_counter() - self.began
            print(f"[{self.done}/{self.total} {elapsed:6.0f}s] {what}", file=sys.stderr, flush=True)


def run_seed(
    seed: int,
    role: str,
    args: argparse.Namespace,
    base: Path,
    progress: Progress,
) -> tuple[list[Row], dict[str, Any], dict[str, Any]]:
    """Generate, replay, evaluate and shuffle-check one seed."""
    run_dir = base / f"seed-{seed}"
    progress.step(f"seed {seed} ({role}): generating {args.workers} workers x {args.days} days")
    generate_s = simulate_into(seed, args.workers, args.days, run_dir, not args.fixed_params)
    end = json.loads((run_dir / "truth.json").read_text())["end"]
    scores, alerts = run_dir / "scores.jsonl", run_dir / "alerts.jsonl"
    vigil = vigil_command(args.vigil)
    progress.step(f"seed {seed} ({role}): replaying")
    replay_s = replay(vigil, run_dir / "events.jsonl", end, scores, alerts)
    rows, info = evaluate_dir(seed, run_dir, scores, alerts)
    info.update(role=role, generate_s=round(generate_s, 2), replay_s=round(replay_s, 2))
    checks: dict[str, Any] = {}
    if not args.no_shuffle:
        base_scores, base_alerts = read_jsonl(scores), read_jsonl(alerts)
        for name, dup in (("shuffled", 0.0), ("shuffled+10%dup", args.duplicate_share)):
            progress.step(f"seed {seed} ({role}): replaying {name}")
            variant = run_dir / f"events-{name.replace('%', 'pct').replace('+', '-')}.jsonl"
            shuffled_copy(run_dir / "events.jsonl", variant, seed * 1000 + len(checks), dup)
            s2, a2 = variant.with_suffix(".scores.jsonl"), variant.with_suffix(".alerts.jsonl")
            replay(vigil, variant, end, s2, a2, file_order=True)
            checks[name] = compare_outputs(base_scores, base_alerts, read_jsonl(s2), read_jsonl(a2))
            variant.unlink()  # large, and reproducible from the seed
    print(
        f"seed {seed} ({role}): generated in {generate_s:.1f}s, replayed in {replay_s:.1f}s, "
        f"{info['alerts']} alerts",
        file=sys.stderr,
    )
    return rows, info, checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Thresholds may only be chosen on --calibrate-seeds; quote --report-seeds.",
    )
    parser.add_argument(
        "--calibrate-seeds",
        type=int,
        nargs="*",
        default=[],
        metavar="S",
        help="seeds on which tuning is allowed (reported separately)",
    )
    parser.add_argument(
        "--report-seeds",
        type=int,
        nargs="*",
        default=None,
        metavar="S",
        help="held-out seeds whose numbers are the benchmark (default 1001)",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="old name of --report-seeds (kept for scripts)"
    )
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--vigil", help="the vigil executable (default: this checkout's)")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument(
        "--keep", type=Path, help="keep each run in KEEP/seed-N instead of a temp dir"
    )
    parser.add_argument(
        "--no-shuffle", action="store_true", help="skip the shuffled / duplicated replays"
    )
    parser.add_argument(
        "--duplicate-share",
        type=float,
        default=0.1,
        help="share of events delivered twice in the second shuffle check (0.1)",
    )
    parser.add_argument(
        "--fixed-params",
        action="store_true",
        help="the simulator's nominal parameters instead of per-seed ones (debugging only)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument(
        "--evaluate",
        type=Path,
        metavar="DIR",
        help="only score an existing run DIR with --scores and --alerts",
    )
    parser.add_argument("--scores", type=Path, help="with --evaluate: the scores JSONL")
    parser.add_argument("--alerts", type=Path, help="with --evaluate: the alerts JSONL")
    args = parser.parse_args(argv)

    report_seeds: list[int] = list(
        args.report_seeds or args.seeds or ([] if args.evaluate else [1001])
    )
    calibrate_seeds: list[int] = list(args.calibrate_seeds)
    both = sorted(set(report_seeds) & set(calibrate_seeds))
    if both:
        parser.error(f"seeds {both} are both calibration and report seeds; a seed has one role")

    all_rows: list[Row] = []
    runs: list[dict[str, Any]] = []
    shuffle: dict[str, dict[str, Any]] = {}
    roles: dict[int, str] = {}
    if args.evaluate:
        if args.scores is None or args.alerts is None:
            parser.error("--evaluate needs --scores and --alerts")
        truth = json.loads((args.evaluate / "truth.json").read_text())
        seed = int(truth["seed"])
        roles[seed] = "calibration" if seed in calibrate_seeds else "report"
        rows, info = evaluate_dir(seed, args.evaluate, args.scores, args.alerts)
        info["role"] = roles[seed]
        all_rows += rows
        runs.append(info)
    else:
        plan = [(s, "calibration") for s in calibrate_seeds] + [(s, "report") for s in report_seeds]
        steps = len(plan) * (2 if args.no_shuffle else 4)
        progress = Progress(steps, args.quiet)
        with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
            base = args.keep or Path(tmp)
            for seed, role in plan:
                roles[seed] = role
                rows, info, checks = run_seed(seed, role, args, base, progress)
                all_rows += rows
                runs.append(info)
                if checks:
                    shuffle[str(seed)] = checks

    by_role = {
        role: summarize([r for r in all_rows if roles[r.seed] == role], KIND_ORDER)
        for role in ("report", "calibration")
        if any(roles[r.seed] == role for r in all_rows)
    }
    per_seed = {
        str(s): summarize([r for r in all_rows if r.seed == s], KIND_ORDER)
        for s in sorted({r.seed for r in all_rows})
    }
    print(
        f"Report (held-out) seeds: {sorted(s for s, r in roles.items() if r == 'report') or '–'}; "
        f"calibration seeds: {sorted(s for s, r in roles.items() if r == 'calibration') or '–'}. "
        "Thresholds may only be chosen on calibration seeds."
    )
    if args.fixed_params:
        print("--fixed-params: the nominal simulator, not a benchmark.")
    for role, summary in by_role.items():
        print(f"\n## {role} seeds\n")
        print(markdown(summary))
    if shuffle:
        print("\n## shuffle check (same events, shuffled; and shuffled with duplicates)\n")
        print(shuffle_markdown(shuffle))
    if all_rows and not any(r.alert_types for r in all_rows):
        print("\nNo alerts in the alerts file(s): recall is 0 for every kind.")
    if args.json:
        result = {
            "parameters": {
                "report_seeds": sorted(s for s, r in roles.items() if r == "report"),
                "calibration_seeds": sorted(s for s, r in roles.items() if r == "calibration"),
                "workers": args.workers,
                "days": args.days,
                "randomised": not args.fixed_params,
                "duplicate_share": args.duplicate_share,
                "vigil_env": sorted(k for k in os.environ if k.startswith("VIGIL_")),
            },
            "runs": runs,
            "report": by_role.get("report"),
            "calibration": by_role.get("calibration"),
            # "pooled" is the report seeds (or, with only calibration seeds, those).
            "pooled": by_role.get("report") or by_role.get("calibration"),
            "per_seed": per_seed,
            "shuffle": shuffle,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
