"""Real crowd data: does Vigil's trust rank workers by their accuracy against expert gold?

CrowdTruth (CrowdFlower, 2014-2015) answers are turned into ``vigil.tasks`` and
``vigil.quality`` events whose outcome and quality come from the answer's
agreement with the *other workers* on the same unit, never from gold. The events
go through ``vigil replay``; the gold labels are used afterwards, only to score.

    .venv/bin/python bench/crowd.py --json crowd.json        # medical (the benchmark)
    .venv/bin/python bench/crowd.py --dataset medical events  # plus the span task

Measures, per dataset (all from the same run):

1. Spearman's rho between each worker's trust score and their accuracy against
   gold, over workers with ``--min-judged`` or more judged decisions; next to
   the same for one-coin Dawid-Skene reliability (EM, no gold) -- the baseline.
2. Out of sample: every worker's answers are split in time order into a first
   and a second half. Only the first halves are turned into events (agreement is
   computed among first halves only) and replayed; the trust read after them is
   tested against gold accuracy on the second half: AUC of ``-trust`` for the
   workers in the bottom quartile of second-half accuracy. Baseline: the same
   AUC for plain first-half gold accuracy; Dawid-Skene on the first halves too.

Every number comes with a 95 % bootstrap interval over the evaluated workers
(``--bootstrap`` draws, fixed seed).

Markdown to stdout, progress to stderr, ``--json`` for the numbers. Deterministic.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import orjson

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # run as a script it is sys.path[0] already; imported, it is not
    sys.path.append(_BENCH)

from crowd_lib import (  # noqa: E402  (bench/ is a folder of scripts, not a package)
    Answer,
    Array,
    Consensus,
    Metric,
    auc,
    bottom_quartile,
    build_events,
    candidate_items,
    dawid_skene_one_coin,
    decisions,
    gold_accuracy,
    interval,
    mean_by_worker,
    resamples,
    spearman,
    split_halves,
)

REPO = Path(__file__).resolve().parents[1]
VIGIL = str(Path(sys.executable).with_name("vigil"))
# The shared data sits beside the checkout (../shared), as on CI; /work/shared otherwise.
_BESIDE = REPO.parent / "shared" / "data" / "crowd" / "crowdtruth"
DEFAULT_DATA = _BESIDE if _BESIDE.is_dir() else Path("/work/shared/data/crowd/crowdtruth")
DATASETS = ("medical", "events")
MEDICAL_ITEMS = ("cause", "treat")
NONE_ITEM = "[NONE]"


@dataclass(frozen=True)
class Dataset:
    """Answers (what the engine may see) and gold (only for scoring), kept apart."""

    name: str
    answers: tuple[Answer, ...]
    metric: Metric
    gold: Mapping[str, Mapping[str, bool]]
    #: Candidate items of each unit from a set of answers (never from gold).
    items_of: Callable[[Sequence[Answer]], Mapping[str, Sequence[str]]]
    note: str


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _utc(text: str, fmt: str) -> datetime:
    # The files carry no zone; the README says CrowdFlower server time, believed UTC.
    return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)


def _rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def _medical_items(answers: Sequence[Answer]) -> Mapping[str, Sequence[str]]:
    # Every sentence was asked about both relations, gold or not.
    return {a.unit_id: MEDICAL_ITEMS for a in answers}


def load_medical_answers(data: Path) -> tuple[Answer, ...]:
    """``cross_task/medical_raw.csv``, one answer per row: ``opt_judg`` ∩ {cause, treat}."""
    out = []
    for n, row in enumerate(_rows(data / "cross_task" / "medical_raw.csv"), start=1):
        out.append(
            Answer(
                answer_id=f"r{n}",
                worker_id=row["Work_id"].strip(),
                unit_id=row["Sent_id"].strip(),
                job_id=Path(row["source"].strip()).stem or "crowdtruth",
                started=_utc(row["start_time"], "%Y-%m-%d %H:%M:%S"),
                submitted=_utc(row["end_time"], "%Y-%m-%d %H:%M:%S"),
                selected=frozenset(row["opt_judg"].split()) & frozenset(MEDICAL_ITEMS),
            )
        )
    return tuple(out)


def load_medical_gold(data: Path, column: str) -> dict[str, dict[str, bool]]:
    """``cross_task/medical_aggregated.csv``: (sentence, relation) -> label in `column`."""
    gold: dict[str, dict[str, bool]] = defaultdict(dict)
    for row in _rows(data / "cross_task" / "medical_aggregated.csv"):
        gold[row["Unit_Id"].strip()][row["Annotation"].strip()] = row[column].strip() == "1"
    return dict(gold)


def _words(text: str) -> frozenset[str]:
    words = frozenset(w.strip() for w in text.split(",") if w.strip())
    return words or frozenset({NONE_ITEM})


def load_events_answers(data: Path) -> tuple[Answer, ...]:
    """``cross_task/events_raw.csv``: selected = the marked words (``[NONE]`` is an item too)."""
    out = []
    for n, row in enumerate(_rows(data / "cross_task" / "events_raw.csv"), start=1):
        out.append(
            Answer(
                answer_id=f"r{n}",
                worker_id=row["Worker_ID"].strip(),
                unit_id=row["Unit_ID"].strip(),
                job_id=f"crowdflower-job-{row['Job_ID'].strip()}",
                started=_utc(row["AcceptTime"], "%m/%d/%Y %H:%M:%S"),
                submitted=_utc(row["SubmitTime"], "%m/%d/%Y %H:%M:%S"),
                selected=_words(row["Annotations"]),
            )
        )
    return tuple(out)


def load_events_gold(data: Path) -> dict[str, dict[str, bool]]:
    """``cross_task/events_aggregated.csv``: (sentence, word) -> ``Expert`` (any row = 1)."""
    gold: dict[str, dict[str, bool]] = defaultdict(dict)
    for row in _rows(data / "cross_task" / "events_aggregated.csv"):
        unit, word = row["Unit Id"].strip(), row["Annotated Span"].strip()
        gold[unit][word] = gold[unit].get(word, False) or row["Expert"].strip() == "1"
    return {u: labels for u, labels in gold.items() if any(labels.values())}


def load_dataset(
    data: Path, name: str, medical_gold: str = "Expert", medical_items: str = "both"
) -> Dataset:
    """Load one dataset. ``medical_items="gold-checked"`` is the README's construction:
    only the (sentence, relation) pairs that have a gold row become decisions. That
    uses *which* pairs were checked (never the labels); the default, ``both``, asks
    about cause and treat on every sentence and reads nothing from the gold file."""
    if name == "medical":
        gold = load_medical_gold(data, medical_gold)
        items_of = _medical_items
        if medical_items == "gold-checked":
            checked = {u: tuple(sorted(labels)) for u, labels in gold.items()}

            def items_of(answers: Sequence[Answer]) -> Mapping[str, Sequence[str]]:
                return {a.unit_id: checked[a.unit_id] for a in answers if a.unit_id in checked}

        elif medical_items != "both":
            raise ValueError(f"medical_items must be both or gold-checked, got {medical_items!r}")
        return Dataset(
            name=name,
            answers=load_medical_answers(data),
            metric="hamming",
            gold=gold,
            items_of=items_of,
            note=(
                "decision = relation r in opt_judg, r in "
                + ("{cause, treat}" if medical_items == "both" else "the gold-checked relations")
                + f"; gold `{medical_gold}`"
            ),
        )
    if name == "events":
        return Dataset(
            name=name,
            answers=load_events_answers(data),
            metric="f1",
            gold=load_events_gold(data),
            items_of=candidate_items,
            note="answer = set of marked words; accuracy = F1 vs the words with `Expert` = 1",
        )
    raise ValueError(f"unknown dataset {name!r}, expected one of {', '.join(DATASETS)}")


def event_lines(
    dataset: Dataset,
    answers: Sequence[Answer],
    accept_at: float = 0.5,
    consensus: Consensus = "pairwise",
) -> tuple[bytes, dict[str, float]]:
    """The replay JSONL for `answers` (gold is not an input) and each answer's agreement."""
    lines, quality = build_events(
        dataset.name, answers, dataset.items_of(answers), dataset.metric, accept_at, consensus
    )
    return b"".join(orjson.dumps(line) + b"\n" for line in lines), quality


def replay(
    events: bytes, workdir: Path, tag: str, half_life_days: float, long_half_life_days: float
) -> dict[str, dict[str, Any]]:
    """Run ``vigil replay`` on the events; return each worker's trust record.

    ``--now`` is the latest time in the events (the data are from 2014-2015), and
    the model's half-lives are passed through the environment, all other
    ``VIGIL_*`` variables removed so the run does not depend on the shell.
    """
    path = workdir / f"{tag}.events.jsonl"
    path.write_bytes(events)
    latest = max(
        str(e.get("scored_at") or e["completed_at"])
        for e in (orjson.loads(line)["event"] for line in events.splitlines())
    )
    scores, alerts, dead = (workdir / f"{tag}.{k}.jsonl" for k in ("scores", "alerts", "dead"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_MODEL_HALF_LIFE_DAYS"] = repr(half_life_days)
    env["VIGIL_MODEL_LONG_HALF_LIFE_DAYS"] = repr(long_half_life_days)
    cmd = [VIGIL, "replay", str(path), "--scores", str(scores), "--alerts", str(alerts)]
    cmd += ["--deadletters", str(dead), "--quiet", "--now", latest]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"vigil replay failed ({done.returncode}): {done.stderr[-2000:]}")
    if dead.read_bytes().strip():
        raise RuntimeError(f"vigil replay rejected events: {dead.read_text()[:2000]}")
    log(f"  replay {tag}: {done.stderr.strip()} ({time.perf_counter() - t0:.1f} s)")
    records: dict[str, dict[str, Any]] = {}
    for line in scores.read_bytes().splitlines():
        record = orjson.loads(line)
        records[str(record["worker_id"])] = record
    return records


def time_weighted_agreement(
    events: bytes, records: Mapping[str, Mapping[str, Any]], half_life_days: float
) -> dict[str, float]:
    """Each worker's quality scores averaged with the engine's weights, no prior.

    The weight of a score is ``2 ** (-(as_of - scored_at) / half_life)``, ``as_of``
    being the time the worker's record was read at: what the engine's decay leaves
    of its input, so the engine's own loss can be told from the decay's.
    """
    h = half_life_days * 86400.0
    num: dict[str, float] = defaultdict(float)
    den: dict[str, float] = defaultdict(float)
    for line in events.splitlines():
        item = orjson.loads(line)
        if item["topic"] != "quality":
            continue
        e = item["event"]
        w = str(e["worker_id"])
        if w not in records:
            continue
        as_of = _time(str(records[w]["as_of"]))
        weight = 2.0 ** (-(as_of - _time(str(e["scored_at"]))) / h)
        num[w] += weight * float(e["score"])
        den[w] += weight
    return {w: num[w] / den[w] for w in sorted(den)}


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


Index = npt.NDArray[np.int64]
Stat = Callable[[Index], float]


def _safe(stat: Stat, idx: Index) -> float:
    try:
        return stat(idx)
    except ValueError:  # a draw with no positives or no negatives: undefined there
        return float("nan")


def _ratio(a: object, b: object) -> float | None:
    # A ratio to a baseline at or below zero (no better than chance for rho) means nothing.
    if isinstance(a, float) and isinstance(b, float) and math.isfinite(a) and b > 0:
        return a / b
    return None


def with_ci(
    stats: Mapping[str, Stat], baseline: str, n: int, reps: int, seed: int
) -> dict[str, object]:
    """Each statistic and its ratio to `baseline`, with 95 % percentile bootstrap intervals.

    The bootstrap resamples the evaluated workers, paired (one draw feeds every
    statistic, so the ratio's interval is that of the ratio). It shows how much
    the numbers move with the sample of workers, not the uncertainty of the
    fitted models, which are not refitted per draw.
    """
    ratio_keys = {f"ratio_{k}_to_{baseline}": k for k in stats if k != baseline}
    out: dict[str, object] = {}
    everything = np.arange(n, dtype=np.int64)
    for k, stat in stats.items():
        out[k] = _safe(stat, everything)
    for rk, k in ratio_keys.items():
        out[rk] = _ratio(out[k], out[baseline])
    if reps > 0:
        draws: dict[str, list[float]] = {k: [] for k in [*stats, *ratio_keys]}
        for idx in resamples(n, reps, seed):
            values = {k: _safe(stat, idx) for k, stat in stats.items()}
            for rk, k in ratio_keys.items():
                r = _ratio(values[k], values[baseline])
                values[rk] = float("nan") if r is None else r
            for k, v in values.items():
                draws[k].append(v)
        cis = {k: interval(v) for k, v in draws.items()}
        out["ci95"] = {k: (None if ci is None else [ci[0], ci[1]]) for k, ci in cis.items()}
    return out


def _aligned(signal: Mapping[str, float], workers: Sequence[str]) -> Array:
    return np.array([signal[w] for w in workers], dtype=np.float64)


def _field(records: Mapping[str, Mapping[str, Any]], *path: str) -> dict[str, float]:
    out = {}
    for w, record in records.items():
        value: Any = record
        for key in path:
            value = value[key]
        out[w] = float(value)
    return out


def evaluate(
    dataset: Dataset,
    workdir: Path,
    *,
    min_judged: int = 10,
    half_life_days: float = 30.0,
    long_half_life_days: float = 120.0,
    accept_at: float = 0.5,
    consensus: Consensus = "pairwise",
    ds_smoothing: float = 1.0,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, object]:
    """Both measures for one dataset (two replays, DS fitted twice); see the module doc."""
    name, answers, metric = dataset.name, dataset.answers, dataset.metric
    log(f"{name}: {len(answers)} answers by {len({a.worker_id for a in answers})} workers")

    def fit_ds(part: Sequence[Answer], items: Mapping[str, Sequence[str]]) -> dict[str, float]:
        return dawid_skene_one_coin(decisions(part, items), smoothing=ds_smoothing)

    # (1) Whole history: trust and Dawid-Skene from the same answers, gold only to score.
    events, quality = event_lines(dataset, answers, accept_at, consensus)
    records = replay(events, workdir, f"{name}-all", half_life_days, long_half_life_days)
    accuracy = gold_accuracy(answers, dataset.gold, metric)
    workers = [w for w, (_, n) in accuracy.items() if n >= min_judged and w in records]
    signals = {
        "trust": _field(records, "score"),
        "dawid_skene": fit_ds(answers, dataset.items_of(answers)),
        "mean_agreement": mean_by_worker(answers, quality),
        "time_weighted_agreement": time_weighted_agreement(events, records, half_life_days),
        **(
            {}
            if consensus == "pairwise"
            else {"pairwise_agreement": mean_by_worker(answers, event_lines(dataset, answers)[1])}
        ),
        "trust_reliability_component": _field(records, "components", "reliability"),
        "trust_quality_component": _field(records, "components", "quality"),
    }
    if metric == "hamming":
        # The README's construction: DS over the gold-checked (sentence, relation) pairs only.
        # It uses which pairs have gold (not their labels): a cross-check, not the baseline.
        checked = {u: tuple(sorted(labels)) for u, labels in dataset.gold.items()}
        signals["dawid_skene_gold_checked_pairs"] = fit_ds(answers, checked)
    truth = _aligned({w: accuracy[w][0] for w in workers}, workers)

    def rho_of(column: Array) -> Stat:
        return lambda idx: spearman(column[idx], truth[idx])

    rhos = {k: rho_of(_aligned(v, workers)) for k, v in signals.items()}
    in_sample: dict[str, object] = {
        "workers": len(workers),
        "judged_decisions": sum(accuracy[w][1] for w in workers),
        **with_ci(rhos, "dawid_skene", len(workers), bootstrap, seed),
    }

    # (2) Out of sample: events, trust and DS from each worker's first half only.
    first, second = split_halves(answers)
    events1, quality1 = event_lines(dataset, first, accept_at, consensus)
    records1 = replay(events1, workdir, f"{name}-first-half", half_life_days, long_half_life_days)
    acc1, acc2 = (gold_accuracy(part, dataset.gold, metric) for part in (first, second))
    pop = [
        w
        for w in sorted(set(acc1) & set(acc2))
        if acc1[w][1] >= min_judged and acc2[w][1] >= min_judged and w in records1
    ]
    low_list = bottom_quartile([acc2[w][0] for w in pop])
    low = np.array(low_list, dtype=np.bool_)
    signals1 = {
        "trust": _field(records1, "score"),
        "first_half_accuracy": {w: acc1[w][0] for w in pop},
        "dawid_skene": fit_ds(first, dataset.items_of(first)),
        "mean_agreement": mean_by_worker(first, quality1),
    }

    def auc_of(column: Array) -> Stat:
        # Low trust should flag the low-accuracy workers, so the score is -signal.
        return lambda idx: auc(-column[idx], low[idx])

    aucs = {k: auc_of(_aligned(v, pop)) for k, v in signals1.items()}
    out_of_sample: dict[str, object] = {
        "workers": len(pop),
        "bottom_quartile": int(low.sum()),
        "second_half_accuracy_cut": max(
            acc2[w][0] for w, x in zip(pop, low_list, strict=True) if x
        ),
        **with_ci(aucs, "first_half_accuracy", len(pop), bootstrap, seed),
    }
    return {
        "dataset": name,
        "note": dataset.note,
        "answers": len(answers),
        "workers_total": len({a.worker_id for a in answers}),
        "events": events.count(b"\n"),
        "answers_not_scored": len(answers) - len(quality),
        "first_half_answers": len(first),
        "first_half_events": events1.count(b"\n"),
        "first_half_answers_not_scored": len(first) - len(quality1),
        "min_judged": min_judged,
        "in_sample": in_sample,
        "out_of_sample": out_of_sample,
    }


#: Table rows: label, key in ``in_sample`` (rho), key in ``out_of_sample`` (AUC).
_ROWS: tuple[tuple[str, str | None, str | None], ...] = (
    ("**Vigil trust score**", "trust", "trust"),
    ("one-coin Dawid-Skene reliability (baseline for rho)", "dawid_skene", "dawid_skene"),
    ("first-half accuracy against gold (uses gold; baseline for AUC)", None, "first_half_accuracy"),
    (
        "mean agreement (the events' input, no engine)",
        "mean_agreement",
        "mean_agreement",
    ),
    ("mean pairwise leave-one-out agreement (default input)", "pairwise_agreement", None),
    (
        "time-weighted mean agreement (the engine's half-life and read time, no prior)",
        "time_weighted_agreement",
        None,
    ),
    ("trust: reliability component only", "trust_reliability_component", None),
    ("trust: quality component only", "trust_quality_component", None),
    ("DS, README construction (gold-checked pairs only)", "dawid_skene_gold_checked_pairs", None),
)


def _cell(value: object, ci: object = None) -> str:
    if not isinstance(value, float) or not math.isfinite(value):
        return "–"
    if isinstance(ci, list):
        return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"
    return f"{value:.3f}"


def _one(baseline: object) -> str:
    # The baseline's ratio to itself; none when the baseline is no better than chance.
    return "1" if _ratio(baseline, baseline) is not None else "–"


def markdown(results: Sequence[Mapping[str, object]], settings: Mapping[str, object]) -> str:
    out = [
        "Settings: " + ", ".join(f"{k} {v}" for k, v in settings.items()) + ".",
        "Cells: value [95 % bootstrap interval over workers].",
        "",
    ]
    for r in results:
        ins = cast(dict[str, Any], r["in_sample"])
        oos = cast(dict[str, Any], r["out_of_sample"])
        ci_in, ci_out = ins.get("ci95", {}), oos.get("ci95", {})
        out += [
            f"### {r['dataset']}: {r['answers']} answers, {r['workers_total']} workers",
            "",
            f"{r['note']}. rho: Spearman with gold accuracy over the {ins['workers']} workers "
            f"with >= {r['min_judged']} judged decisions. AUC: first-half signal vs the bottom "
            f"quartile of second-half accuracy ({oos['bottom_quartile']} of {oos['workers']} "
            f"workers with >= {r['min_judged']} judged decisions in each half; accuracy <= "
            f"{oos['second_half_accuracy_cut']:.3f}).",
            "",
            "| signal (no gold unless said) | rho vs gold accuracy | ratio to DS "
            "| out-of-sample AUC | ratio to first-half accuracy |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, rho_key, auc_key in _ROWS:
            if (rho_key is None or rho_key not in ins) and auc_key is None:
                continue
            rk = f"ratio_{rho_key}_to_dawid_skene"
            ak = f"ratio_{auc_key}_to_first_half_accuracy"
            cells = [
                _cell(ins.get(rho_key or ""), ci_in.get(rho_key)),
                _one(ins["dawid_skene"])
                if rho_key == "dawid_skene"
                else _cell(ins.get(rk), ci_in.get(rk)),
                _cell(oos.get(auc_key or ""), ci_out.get(auc_key)),
                _one(oos["first_half_accuracy"])
                if auc_key == "first_half_accuracy"
                else _cell(oos.get(ak), ci_out.get(ak)),
            ]
            if rho_key is None:
                cells[:2] = ["–", "–"]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the crowdtruth folder")
    parser.add_argument(
        "--dataset", nargs="+", choices=DATASETS, default=["medical"], help="default: medical"
    )
    parser.add_argument("--json", type=Path, help="write the numbers here")
    parser.add_argument(
        "--min-judged",
        type=int,
        default=10,
        help="judged decisions a worker needs (in each half, out of sample); default 10",
    )
    parser.add_argument("--medical-gold", choices=("Expert", "Trusted_Judgment"), default="Expert")
    parser.add_argument(
        "--medical-items",
        choices=("both", "gold-checked"),
        default="both",
        help="decisions on cause and treat for every sentence (default, reads no gold file), "
        "or only on the gold-checked pairs (the README's construction)",
    )
    parser.add_argument("--half-life-days", type=float, default=30.0)
    parser.add_argument("--long-half-life-days", type=float, default=120.0)
    parser.add_argument(
        "--accept-at",
        type=float,
        default=0.5,
        help="agreement at which a task counts as accepted (0: every task accepted)",
    )
    parser.add_argument(
        "--quality-from",
        choices=("pairwise", "majority", "dawid-skene"),
        default="pairwise",
        help="what an answer's quality score measures agreement with: each other worker "
        "(default), the others' majority answer, or the others' answers weighted by their "
        "Dawid-Skene reliability (a platform that consolidates labels by EM)",
    )
    parser.add_argument("--ds-smoothing", type=float, default=1.0, help="DS pseudo-counts")
    parser.add_argument("--bootstrap", type=int, default=1000, help="draws (0: no intervals)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--keep", type=Path, help="keep the event and score files in this folder")
    args = parser.parse_args(argv)
    if args.long_half_life_days < args.half_life_days:
        parser.error("--long-half-life-days must be >= --half-life-days")
    settings = {
        "half_life_days": args.half_life_days,
        "long_half_life_days": args.long_half_life_days,
        "accept_at": args.accept_at,
        "quality_from": args.quality_from,
        "medical_gold": args.medical_gold,
        "medical_items": args.medical_items,
        "ds_smoothing": args.ds_smoothing,
        "min_judged": args.min_judged,
        "bootstrap": args.bootstrap,
        "seed": args.seed,
    }
    t0 = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="vigil-crowd-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for name in args.dataset:
            dataset = load_dataset(args.data, name, args.medical_gold, args.medical_items)
            results.append(
                evaluate(
                    dataset,
                    workdir,
                    min_judged=args.min_judged,
                    half_life_days=args.half_life_days,
                    long_half_life_days=args.long_half_life_days,
                    accept_at=args.accept_at,
                    consensus=args.quality_from,
                    ds_smoothing=args.ds_smoothing,
                    bootstrap=args.bootstrap,
                    seed=args.seed,
                )
            )
    print(markdown(results, settings))
    if args.json:
        payload = {"settings": settings, "results": results}
        args.json.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
    log(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
