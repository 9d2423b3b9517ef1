"""Offline calibration of the drift detectors on the simulator (no Kafka, no files).

For each seed: simulate a platform in process, feed each worker's task, quality
and payout events through `reputation.drift.DriftModel` in file (event-time)
order, and score the findings against the run's truth:

- recall per expected type: bad workers of a kind with a finding of that type
  at or after ``change_time``, over the workers of the kind that expect it;
- recall "any": a finding of any expected type at or after ``change_time``;
- delay in active days: the worker's distinct UTC task days after the change
  day up to and including the detection day (0 = the day of the change),
  median and p90, for the first expected finding;
- false-alarm rate: workers with any drift finding over the workers of a good
  kind (honest, and each trap kind separately), and over all good workers.

``--check-interleaving`` also feeds every worker channel by channel (all tasks,
then all quality scores, then all payouts) and checks that the set of findings
(type, detected_at, event ids) is the same as in file order.

``--river`` runs River's ADWIN and Page-Hinkley on the per-worker quality score
stream and on an hour-of-day signal (the circular distance, in hours, of each
task's UTC hour from the worker's first-week mean hour), each at several
sensitivities, and reports the recall of the setting whose false-alarm rate on
good workers is the largest not above ours.

    python bench/drift_offline.py --seeds 1 2 3 --workers 1000 --days 60
    python bench/drift_offline.py --seeds 11 12 --workers 1000 --days 60 --river
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reputation.drift import DRIFT_TYPES, DriftModel, DriftState  # noqa: E402
from reputation.drift.codec import drift_state_to_record  # noqa: E402
from reputation.events import parse_payout, parse_quality, parse_task  # noqa: E402
from sim.config import KINDS, SimConfig  # noqa: E402
from sim.generate import simulate  # noqa: E402
from sim.output import load_sanctions_lists  # noqa: E402
from sim.times import to_ts  # noqa: E402

DAY = 86_400
PARSERS: dict[str, Callable[..., Any]] = {
    "tasks": parse_task,
    "quality": parse_quality,
    "payouts": parse_payout,
}
DRIFT_KINDS = ("takeover", "quality_decline")
GOOD_KINDS = ("honest", "traveller", "night_owl", "wallet_change_legit", "many_ips", "decoy")


@dataclass
class WorkerRun:
    """One worker's events (per channel, file order) and what the detectors found."""

    worker_id: str
    kind: str
    bad: bool
    change_ts: int | None
    expected: set[str]
    events: list[tuple[str, Any]] = field(default_factory=list)
    task_days: set[int] = field(default_factory=set)
    findings: list[tuple[str, int, tuple[str, ...]]] = field(default_factory=list)
    state_bytes: int = 0


def load_runs(seed: int, workers: int, days: int) -> dict[str, WorkerRun]:
    sim = simulate(SimConfig(seed=seed, workers=workers, days=days), load_sanctions_lists())
    truth = sim.truth["workers"]
    assert isinstance(truth, dict)
    runs: dict[str, WorkerRun] = {}
    for wid, rec in truth.items():
        change = rec.get("change_time")
        runs[wid] = WorkerRun(
            wid,
            rec["kind"],
            bool(rec["bad"]),
            to_ts(change) if change else None,
            set(rec["expected_alerts"]) & set(DRIFT_TYPES),
        )
    for ev in sim.events:
        if ev.topic not in PARSERS:
            continue
        run = runs.get(str(ev.key))
        if run is None:
            continue
        e = PARSERS[ev.topic](ev.payload)
        run.events.append((ev.topic, e))
        if ev.topic == "tasks":
            run.task_days.add(ev.ts // DAY)
    return runs


def feed(model: DriftModel, events: Iterable[tuple[str, Any]]) -> tuple[DriftState, list[Any]]:
    """Fold a worker's events one at a time (settling after each, as a stream of
    one-event batches does) and return the state and the alerts that stand."""
    s, standing = DriftState(), {}
    for kind, e in events:
        s = model.update(s, kind, e)
        s, found, gone = model.settle(s)
        for ep in gone:
            standing.pop((ep.type, ep.event_id), None)
        for f in found:
            standing[(f.type, f.event_ids[0])] = f
    return s, list(standing.values())


def run_model(model: DriftModel, runs: dict[str, WorkerRun], check: bool) -> tuple[float, int, int]:
    n_events, mismatches, t0 = 0, 0, time.perf_counter()
    for run in runs.values():
        s, found = feed(model, run.events)
        n_events += len(run.events)
        run.findings = [(f.type, int(f.detected_at.timestamp()), f.event_ids) for f in found]
        run.state_bytes = len(json.dumps(drift_state_to_record(s), separators=(",", ":")))
    elapsed = time.perf_counter() - t0
    if check:
        for run in runs.values():
            by_channel = sorted(
                run.events, key=lambda ke: ("tasks", "quality", "payouts").index(ke[0])
            )
            _, found = feed(model, by_channel)
            other = {(f.type, int(f.detected_at.timestamp()), f.event_ids) for f in found}
            if other != set(run.findings):
                mismatches += 1
    return elapsed, n_events, mismatches


def delay_days(run: WorkerRun, detect_ts: int) -> int:
    assert run.change_ts is not None
    c, d = run.change_ts // DAY, detect_ts // DAY
    return sum(1 for x in run.task_days if c < x <= d)


def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarize(runs: list[WorkerRun]) -> dict[str, Any]:
    out: dict[str, Any] = {"kinds": {}}
    good = [r for r in runs if not r.bad]
    out["false_alarm_good"] = sum(bool(r.findings) for r in good) / max(1, len(good))
    out["good_by_type"] = {
        t: sum(any(f[0] == t for f in r.findings) for r in good) / max(1, len(good))
        for t in DRIFT_TYPES
    }
    for kind in KINDS:
        mine = [r for r in runs if r.kind == kind]
        if not mine:
            continue
        stats: dict[str, Any] = {"n": len(mine)}
        if kind in DRIFT_KINDS:
            per_type: dict[str, list[bool]] = defaultdict(list)
            per_type_delay: dict[str, list[float]] = defaultdict(list)
            anys, delays, early = [], [], 0
            for r in mine:
                c = r.change_ts or 0
                hits = sorted(ts for t, ts, _ in r.findings if t in r.expected and ts >= c)
                early += any(t in r.expected and ts < c for t, ts, _ in r.findings)
                anys.append(bool(hits))
                if hits:
                    delays.append(float(delay_days(r, hits[0])))
                for t in r.expected:
                    th = sorted(ts for tt, ts, _ in r.findings if tt == t and ts >= c)
                    per_type[t].append(bool(th))
                    if th:
                        per_type_delay[t].append(float(delay_days(r, th[0])))
            stats.update(
                recall_any=sum(anys) / len(mine),
                delay_med=pct(delays, 50),
                delay_p90=pct(delays, 90),
                early=early,
                recall_by_type={
                    t: (sum(v) / len(v), len(v), pct(per_type_delay[t], 50))
                    for t, v in sorted(per_type.items())
                },
            )
        else:
            stats["false_alarm"] = sum(bool(r.findings) for r in mine) / len(mine)
            types: dict[str, int] = defaultdict(int)
            for r in mine:
                for t in {f[0] for f in r.findings}:
                    types[t] += 1
            stats["by_type"] = dict(types)
        out["kinds"][kind] = stats
    sizes = [r.state_bytes for r in runs]
    out["state_bytes_median"], out["state_bytes_max"] = pct(sizes, 50), max(sizes)
    return out


def fmt(x: Any, d: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{d}f}"
    return str(x)


def print_summary(title: str, s: dict[str, Any]) -> None:
    print(f"\n## {title}\n")
    print(
        "| kind | n | recall any | delay active days med / p90 "
        "| per type: recall (n, median delay) | false alarms |"
    )
    print("|---|---:|---:|---:|---|---:|")
    for kind, st in s["kinds"].items():
        if "recall_any" in st:
            types = "; ".join(
                f"{t} {v[0]:.2f} (n={v[1]}, {fmt(v[2], 1)} d)"
                for t, v in st["recall_by_type"].items()
            )
            print(
                f"| {kind} | {st['n']} | {st['recall_any']:.3f} | {fmt(st['delay_med'], 1)} / "
                f"{fmt(st['delay_p90'], 1)} | {types} | |"
            )
        elif kind in GOOD_KINDS:
            by = ", ".join(f"{k}={v}" for k, v in sorted(st["by_type"].items()))
            print(f"| {kind} | {st['n']} | | | {by} | {st['false_alarm']:.4f} |")
    gbt = ", ".join(f"{k} {v:.4f}" for k, v in s["good_by_type"].items())
    print(
        f"\nfalse-alarm rate, all good workers: {s['false_alarm_good']:.4f} ({gbt}); "
        f"state JSON bytes median {fmt(s['state_bytes_median'], 0)}, max {s['state_bytes_max']}"
    )


# -- River baselines -------------------------------------------------------------------


def _import_river(extra: Path | None) -> Any:
    if extra is not None and str(extra) not in sys.path:
        sys.path.append(str(extra))  # a `pip install --target DIR river` outside the locked venv
    try:
        import river.drift  # type: ignore[import-not-found]
    except ImportError:
        sys.exit(
            "--river needs the 'river' package: pip install river "
            "(or pip install --target DIR river and pass --river-path DIR)"
        )
    return river.drift


def _hour_signal(run: WorkerRun) -> list[tuple[int, float]]:
    tasks = [e for k, e in run.events if k == "tasks"]
    if not tasks:
        return []
    t0 = tasks[0].completed_at.timestamp()
    first_week = [e for e in tasks if e.completed_at.timestamp() < t0 + 7 * DAY] or tasks
    ang = [
        2 * math.pi * (e.completed_at.hour + e.completed_at.minute / 60) / 24 for e in first_week
    ]
    mean = math.atan2(sum(map(math.sin, ang)), sum(map(math.cos, ang)))
    out = []
    for e in tasks:
        a = 2 * math.pi * (e.completed_at.hour + e.completed_at.minute / 60) / 24
        dist = abs(math.atan2(math.sin(a - mean), math.cos(a - mean))) * 24 / (2 * math.pi)
        out.append((int(e.completed_at.timestamp()), dist))
    return out


def _quality_signal(run: WorkerRun) -> list[tuple[int, float]]:
    return [(int(e.scored_at.timestamp()), e.score) for k, e in run.events if k == "quality"]


def river_baselines(runs: list[WorkerRun], ours_fa: float, extra: Path | None) -> None:
    drift = _import_river(extra)
    grids: dict[str, list[tuple[str, Callable[[], Any]]]] = {
        "ADWIN": [
            (f"delta={d}", lambda d=d: drift.ADWIN(delta=d))
            for d in (0.2, 0.02, 2e-3, 2e-4, 2e-5, 2e-6, 1e-8)
        ],
        "PageHinkley": [
            (f"threshold={t}", lambda t=t: drift.PageHinkley(threshold=t, mode="both"))
            for t in (5, 10, 20, 50, 100, 200, 400)
        ],
    }
    signals = {
        "quality": (_quality_signal, "quality_decline"),
        "hour_of_day": (_hour_signal, "takeover"),
    }
    print(
        f"\n## River baselines (river {_river_version()}), "
        f"target false-alarm rate <= {ours_fa:.4f}\n"
    )
    print("| signal | detector | setting | false alarms (good) | recall (bad kind) |")
    print("|---|---|---|---:|---:|")
    for sig_name, (signal, bad_kind) in signals.items():
        series = {r.worker_id: signal(r) for r in runs}
        for det_name, grid in grids.items():
            best: tuple[str, float, float] | None = None
            for label, make in grid:
                fa_n = rec_n = n_good = n_bad = 0
                for r in runs:
                    if not (not r.bad or r.kind == bad_kind):
                        continue
                    det, hit_before, hit_after = make(), False, False
                    c = r.change_ts if r.bad and r.change_ts else None
                    for ts, x in series[r.worker_id]:
                        det.update(x)
                        if det.drift_detected:
                            if c is not None and ts >= c:
                                hit_after = True
                                break
                            hit_before = True
                            if c is None:
                                break
                    if r.bad:
                        n_bad += 1
                        rec_n += hit_after
                    else:
                        n_good += 1
                        fa_n += hit_before
                fa, rec = fa_n / max(1, n_good), rec_n / max(1, n_bad)
                print(f"| {sig_name} | {det_name} | {label} | {fa:.4f} | {rec:.3f} |")
                if fa <= ours_fa and (best is None or rec > best[2]):
                    best = (label, fa, rec)
            if best is not None:
                print(
                    f"| {sig_name} | **{det_name} at equal FA** | {best[0]} | "
                    f"{best[1]:.4f} | {best[2]:.3f} |"
                )
            else:
                print(f"| {sig_name} | **{det_name} at equal FA** | none reaches it | | 0 |")


def _river_version() -> str:
    import river  # type: ignore[import-not-found]

    return str(river.__version__)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--workers", type=int, default=1000)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--check-interleaving", action="store_true")
    p.add_argument("--river", action="store_true")
    p.add_argument("--river-path", type=Path, help="directory of a --target install of river")
    p.add_argument("--json", type=Path)
    p.add_argument("--set", nargs="*", default=[], help="model overrides name=value")
    args = p.parse_args(argv)
    overrides: dict[str, Any] = {}
    for item in args.set:
        k, v = item.split("=", 1)
        overrides[k] = float(v) if "." in v else int(v)
    model = DriftModel(**overrides)
    print(f"model: {model}")
    pooled: list[WorkerRun] = []
    per_seed: dict[int, Any] = {}
    for seed in args.seeds:
        t0 = time.perf_counter()
        runs = load_runs(seed, args.workers, args.days)
        t_sim = time.perf_counter() - t0
        elapsed, n_events, mism = run_model(model, runs, args.check_interleaving)
        print(
            f"seed {seed}: simulate+parse {t_sim:.1f} s; {n_events} events through DriftModel in "
            f"{elapsed:.1f} s ({1e6 * elapsed / n_events:.1f} us/event)"
            + (f"; interleaving mismatches: {mism} workers" if args.check_interleaving else "")
        )
        per_seed[seed] = summarize(list(runs.values()))
        print_summary(f"seed {seed}", per_seed[seed])
        for r in runs.values():
            r.events = r.events if args.river else []
        pooled.extend(runs.values())
    pooled_summary = summarize(pooled)
    print_summary(f"pooled over seeds {args.seeds}", pooled_summary)
    if args.river:
        river_baselines(pooled, pooled_summary["false_alarm_good"], args.river_path)
    if args.json:
        args.json.write_text(json.dumps({"pooled": pooled_summary, "per_seed": per_seed}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
