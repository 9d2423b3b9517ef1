"""Pure pieces of the crowd benchmark: answers to events, gold scoring, Dawid-Skene, ranks.

Nothing here reads files, the clock or the environment; `bench/crowd.py` does the
I/O. The one rule that matters: `build_events` never sees a gold label. Its
inputs are the answers and the candidate items of each unit, both read from the
crowd's own answer files; gold only enters `gold_accuracy`, which is used for
scoring after the fact.

Examples
--------
>>> a = answer("a1", "w1", "u", ["cause"], minute=0)
>>> b = answer("a2", "w2", "u", ["cause"], minute=1)
>>> c = answer("a3", "w3", "u", [], minute=2)
>>> [round(loo_agreement([a, b, c], ("cause", "treat"), "hamming")[x.answer_id], 3)
...  for x in (a, b, c)]
[0.75, 0.75, 0.5]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "Answer",
    "Metric",
    "answer",
    "auc",
    "bottom_quartile",
    "build_events",
    "Consensus",
    "candidate_items",
    "consensus_agreement",
    "dawid_skene_one_coin",
    "decisions",
    "format_time",
    "gold_accuracy",
    "interval",
    "loo_agreement",
    "mean_by_worker",
    "rankdata",
    "resamples",
    "similarity",
    "spearman",
    "split_halves",
]

#: How two answers (or an answer and the gold answer) are compared.
#: ``hamming``: the share of the unit's candidate items on which both make the same
#: yes/no decision (medical relations). ``f1``: Dice/F1 overlap of the selected sets,
#: 1 when both are empty (event-word spans, where most words are a trivial "no").
Metric = Literal["hamming", "f1"]

Array = npt.NDArray[np.float64]

#: What an answer's quality score is measured against (never gold).
#: ``pairwise``: the mean `similarity` to each other worker's answer on the unit.
#: ``majority``: the other workers' majority answer (per item; a tie counts half).
#: ``dawid-skene``: the other workers' answers weighted by their one-coin
#: Dawid-Skene reliability (fitted on all answers, no gold), as a platform that
#: consolidates redundant labels by EM scores each answer against the consolidated one.
Consensus = Literal["pairwise", "majority", "dawid-skene"]


@dataclass(frozen=True, slots=True)
class Answer:
    """One worker's answer to one unit: the set of candidate items they selected."""

    answer_id: str
    worker_id: str
    unit_id: str
    job_id: str
    started: datetime
    submitted: datetime
    selected: frozenset[str]


def answer(
    answer_id: str, worker_id: str, unit_id: str, selected: Iterable[str], minute: int = 0
) -> Answer:
    """Build an `Answer` at a synthetic time, ``minute`` minutes after 2015-01-01 (for tests).

    Examples
    --------
    >>> answer("a", "w", "u", ["x"], minute=90).submitted.isoformat()
    '2015-01-01T01:30:30+00:00'
    """
    t = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
    return Answer(
        answer_id, worker_id, unit_id, "job", t, t + timedelta(seconds=30), frozenset(selected)
    )


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as the contract's examples.

    Examples
    --------
    >>> format_time(datetime(2015, 6, 25, 21, 16, 47, tzinfo=UTC))
    '2015-06-25T21:16:47Z'
    """
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def candidate_items(answers: Iterable[Answer]) -> dict[str, tuple[str, ...]]:
    """Candidate items of each unit: every item any answer on the unit selected (sorted).

    For span tasks the question's word list is not in the answer file, so the
    words somebody marked stand in for it; this reads answers only, never gold.

    Examples
    --------
    >>> candidate_items([answer("1", "w", "u", ["b"]), answer("2", "v", "u", ["a", "b"])])
    {'u': ('a', 'b')}
    """
    items: dict[str, set[str]] = defaultdict(set)
    for a in answers:
        items[a.unit_id].update(a.selected)
    return {u: tuple(sorted(s)) for u, s in sorted(items.items())}


def similarity(a: frozenset[str], b: frozenset[str], items: Sequence[str], metric: Metric) -> float:
    """Agreement of two answers on one unit, in 0..1.

    Examples
    --------
    >>> similarity(frozenset({"cause"}), frozenset(), ("cause", "treat"), "hamming")
    0.5
    >>> similarity(frozenset({"x", "y"}), frozenset({"y"}), (), "f1")
    0.6666666666666666
    >>> similarity(frozenset(), frozenset(), (), "f1")
    1.0
    """
    if metric == "hamming":
        if not items:
            return 1.0
        return sum((i in a) == (i in b) for i in items) / len(items)
    if not a and not b:
        return 1.0
    return 2.0 * len(a & b) / (len(a) + len(b))


def loo_agreement(
    answers: Sequence[Answer], items: Sequence[str], metric: Metric
) -> dict[str, float]:
    """Leave-one-out agreement of each answer on one unit with the other workers' answers.

    The mean `similarity` to every answer on the unit by a *different* worker (a
    worker who answered a unit twice is not compared with themself). Answers with
    nobody else on the unit get no value.
    """
    out: dict[str, float] = {}
    for a in answers:
        others = [
            similarity(a.selected, b.selected, items, metric)
            for b in answers
            if b.worker_id != a.worker_id
        ]
        if others:
            out[a.answer_id] = float(np.mean(others))
    return out


def consensus_agreement(
    answers: Sequence[Answer],
    items: Mapping[str, Sequence[str]],
    metric: Metric,
    consensus: Consensus,
    reliability: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Agreement of each answer with the consensus of the *other* workers on its unit.

    For each item of the unit, P = the other workers' probability that it is
    selected: their share (``majority``), or the posterior of one-coin
    Dawid-Skene with the answer's own vote taken out (``dawid-skene``, needs
    `reliability`). ``hamming``: the mean over items of the credit for the
    answer's yes/no, P or 1 - P for ``dawid-skene``, and 1, 0.5 (tie) or 0 against
    the majority label. ``f1``: F1 with the set of items whose P > 0.5. Answers
    with nobody else on the unit get no value.

    Examples
    --------
    >>> a = answer("a1", "w1", "u", ["cause"])
    >>> b = answer("a2", "w2", "u", ["cause"])
    >>> c = answer("a3", "w3", "u", [])
    >>> sorted(consensus_agreement([a, b, c], {"u": ("cause",)}, "hamming", "majority").items())
    [('a1', 0.5), ('a2', 0.5), ('a3', 0.0)]
    """
    if consensus == "pairwise":
        raise ValueError("pairwise agreement is loo_agreement, not a consensus")
    if consensus == "dawid-skene" and reliability is None:
        raise ValueError("dawid-skene consensus needs the workers' reliability")
    by_unit: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        by_unit[a.unit_id].append(a)
    out: dict[str, float] = {}
    for unit_id, group in by_unit.items():
        unit_items = tuple(items.get(unit_id, ()))
        for a in group:
            others = [b for b in group if b.worker_id != a.worker_id]
            if not others or not unit_items:
                continue
            p = _item_probabilities(a, others, unit_items, consensus, reliability or {})
            if metric == "hamming":
                credits = []
                for i in unit_items:
                    chose = i in a.selected
                    if consensus == "dawid-skene":
                        credits.append(p[i] if chose else 1.0 - p[i])
                    else:
                        credits.append(0.5 if p[i] == 0.5 else float((p[i] > 0.5) == chose))
                out[a.answer_id] = float(np.mean(credits))
            else:
                agreed = frozenset(i for i in unit_items if p[i] > 0.5)
                out[a.answer_id] = similarity(a.selected, agreed, (), "f1")
    return out


def _item_probabilities(
    a: Answer,
    others: Sequence[Answer],
    unit_items: Sequence[str],
    consensus: Consensus,
    reliability: Mapping[str, float],
) -> dict[str, float]:
    if consensus == "majority":
        return {i: sum(i in b.selected for b in others) / len(others) for i in unit_items}
    out = {}
    for i in unit_items:
        # Flat prior: the consolidated label is the others' reliability-weighted vote.
        logit = 0.0
        for b in others:
            r = min(1.0 - 1e-6, max(1e-6, reliability.get(b.worker_id, 0.5)))
            logit += (1.0 if i in b.selected else -1.0) * float(np.log(r / (1.0 - r)))
        out[i] = float(1.0 / (1.0 + np.exp(-logit)))
    return out


def build_events(
    dataset: str,
    answers: Sequence[Answer],
    items: Mapping[str, Sequence[str]],
    metric: Metric,
    accept_at: float = 0.5,
    consensus: Consensus = "pairwise",
) -> tuple[list[dict[str, object]], dict[str, float]]:
    """Turn answers into ``vigil replay`` lines, using only the crowd's own answers.

    For each answer with at least one other worker on its unit (units with no
    candidate items in `items` are left out): a task event
    (``assigned_at``/``completed_at`` = the answer's start/submit time; outcome
    ``accepted`` when its leave-one-out agreement is at least `accept_at`, i.e. it
    agrees with the other workers at least as much as it disagrees, else
    ``rejected``) and a quality event (score = that agreement). The quality is
    known only once the unit's answers are in, so ``scored_at`` is the unit's
    last submit time. Lines are sorted by time, tasks before scores, then id.
    With another `consensus` the agreement is `consensus_agreement` instead
    (its Dawid-Skene reliabilities fitted on `answers`, no gold).

    Returns the lines and the agreement of every scored answer.

    Examples
    --------
    >>> ans = [answer("1", "w1", "u", ["x"]), answer("2", "w2", "u", ["x"], 5)]
    >>> lines, q = build_events("d", ans, {"u": ("x",)}, "hamming")
    >>> [(x["topic"], x["event"]["event_id"]) for x in lines]
    [('tasks', 't-d-1'), ('tasks', 't-d-2'), ('quality', 'q-d-1'), ('quality', 'q-d-2')]
    >>> lines[0]["event"]["outcome"], lines[2]["event"]["score"]
    ('accepted', 1.0)
    """
    by_unit: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        by_unit[a.unit_id].append(a)
    keyed: list[tuple[str, int, str, dict[str, object]]] = []
    quality: dict[str, float] = {}
    shared: dict[str, float] | None = None
    if consensus != "pairwise":
        fit = dawid_skene_one_coin(decisions(answers, items)) if consensus == "dawid-skene" else {}
        shared = consensus_agreement(answers, items, metric, consensus, fit)
    for unit_id in sorted(by_unit):
        group, unit_items = by_unit[unit_id], items.get(unit_id, ())
        if not unit_items:
            continue
        agreement = loo_agreement(group, unit_items, metric) if shared is None else shared
        scored_at = format_time(max(a.submitted for a in group))
        for a in group:
            if a.answer_id not in agreement:
                continue
            q = round(agreement[a.answer_id], 9)
            quality[a.answer_id] = q
            task_id = f"{dataset}:{unit_id}"
            completed = format_time(a.submitted)
            task = {
                "event_id": f"t-{dataset}-{a.answer_id}",
                "worker_id": a.worker_id,
                "payer_id": a.job_id,
                "task_id": task_id,
                "outcome": "accepted" if q >= accept_at else "rejected",
                "assigned_at": format_time(a.started),
                "completed_at": completed,
            }
            score = {
                "event_id": f"q-{dataset}-{a.answer_id}",
                "worker_id": a.worker_id,
                "task_id": task_id,
                "scorer_id": "crowd-consensus-loo",
                "score": q,
                "weight": 1.0,
                "scored_at": scored_at,
            }
            keyed.append((completed, 0, str(task["event_id"]), {"topic": "tasks", "event": task}))
            keyed.append(
                (scored_at, 1, str(score["event_id"]), {"topic": "quality", "event": score})
            )
    keyed.sort(key=lambda k: k[:3])
    return [line for *_, line in keyed], quality


def gold_accuracy(
    answers: Iterable[Answer], gold: Mapping[str, Mapping[str, bool]], metric: Metric
) -> dict[str, tuple[float, int]]:
    """Each worker's (accuracy against gold, number of judged decisions).

    ``hamming``: every gold-labelled item of a unit is one decision, right when the
    answer's yes/no equals the label. ``f1``: every answer on a unit with gold is
    one decision scored by F1 against the gold-positive items; accuracy is the mean.
    """
    num: dict[str, float] = defaultdict(float)
    den: dict[str, int] = defaultdict(int)
    for a in answers:
        labels = gold.get(a.unit_id)
        if not labels:
            continue
        if metric == "hamming":
            num[a.worker_id] += sum((i in a.selected) == y for i, y in labels.items())
            den[a.worker_id] += len(labels)
        else:
            positives = frozenset(i for i, y in labels.items() if y)
            num[a.worker_id] += similarity(a.selected, positives, (), "f1")
            den[a.worker_id] += 1
    return {w: (num[w] / den[w], den[w]) for w in sorted(den)}


def decisions(
    answers: Iterable[Answer], items: Mapping[str, Sequence[str]]
) -> list[tuple[str, str, int]]:
    """Binary (worker, unit:item, chose-it) decisions over each unit's candidate items."""
    return [
        (a.worker_id, f"{a.unit_id}\x00{i}", int(i in a.selected))
        for a in answers
        for i in items.get(a.unit_id, ())
    ]


def dawid_skene_one_coin(
    votes: Sequence[tuple[str, str, int]],
    max_iter: int = 1000,
    tol: float = 1e-10,
    smoothing: float = 1.0,
) -> dict[str, float]:
    """One-coin Dawid-Skene: each worker is right with probability p_w, whatever the truth.

    EM on binary decisions, started from the soft majority vote. The M-step adds
    `smoothing` pseudo-counts of right and wrong to every worker (Laplace), so a
    worker with few votes stays near 0.5 and no log is taken of 0.

    Parameters
    ----------
    votes
        ``(worker, item, label)`` with label 0/1; no gold.
    max_iter, tol
        Stop after `max_iter` rounds or when no item posterior moves more than `tol`.
    smoothing
        Pseudo-counts added to each worker's right and wrong totals.

    Examples
    --------
    >>> truth = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0]
    >>> votes = [(w, str(i), t) for w in ("a", "b", "c") for i, t in enumerate(truth)]
    >>> votes += [("r", str(i), 1) for i in range(10)]
    >>> p = dawid_skene_one_coin(votes)
    >>> p["a"] > 0.9, 0.4 < p["r"] < 0.6
    (True, True)

    References
    ----------
    A. P. Dawid, A. M. Skene (1979). Maximum likelihood estimation of observer
    error-rates using the EM algorithm. Applied Statistics 28(1), 20-28.
    """
    workers = sorted({w for w, _, _ in votes})
    items = sorted({i for _, i, _ in votes})
    w_index = {w: k for k, w in enumerate(workers)}
    i_index = {i: k for k, i in enumerate(items)}
    wk = np.fromiter((w_index[w] for w, _, _ in votes), dtype=np.int64, count=len(votes))
    it = np.fromiter((i_index[i] for _, i, _ in votes), dtype=np.int64, count=len(votes))
    y = np.fromiter((v for _, _, v in votes), dtype=np.float64, count=len(votes))
    n_items, n_workers = len(items), len(workers)
    counts = np.bincount(it, minlength=n_items).astype(np.float64)
    post = np.bincount(it, weights=y, minlength=n_items) / counts  # P(truth = 1)
    per_worker = np.bincount(wk, minlength=n_workers).astype(np.float64)
    p = np.full(n_workers, 0.5)
    for _ in range(max_iter):
        right = y * post[it] + (1.0 - y) * (1.0 - post[it])
        p = (np.bincount(wk, weights=right, minlength=n_workers) + smoothing) / (
            per_worker + 2.0 * smoothing
        )
        p = np.clip(p, 1e-6, 1.0 - 1e-6)
        prior = float(np.clip(post.mean(), 1e-6, 1.0 - 1e-6))
        log_odds = np.log(p) - np.log1p(-p)
        logit = np.log(prior / (1.0 - prior)) + np.bincount(
            it, weights=(2.0 * y - 1.0) * log_odds[wk], minlength=n_items
        )
        new = 1.0 / (1.0 + np.exp(-logit))
        delta = float(np.max(np.abs(new - post))) if n_items else 0.0
        post = new
        if delta < tol:
            break
    return {w: float(p[k]) for w, k in w_index.items()}


def mean_by_worker(answers: Iterable[Answer], values: Mapping[str, float]) -> dict[str, float]:
    """The mean of a per-answer value over each worker's answers that have one."""
    acc: dict[str, list[float]] = defaultdict(list)
    for a in answers:
        if a.answer_id in values:
            acc[a.worker_id].append(values[a.answer_id])
    return {w: float(np.mean(v)) for w, v in sorted(acc.items())}


def split_halves(answers: Iterable[Answer]) -> tuple[list[Answer], list[Answer]]:
    """Split every worker's answers in time order: the first ``n // 2``, then the rest.

    Examples
    --------
    >>> first, second = split_halves([answer(str(m), "w", "u", [], m) for m in (3, 1, 2)])
    >>> [a.answer_id for a in first], [a.answer_id for a in second]
    (['1'], ['2', '3'])
    """
    by_worker: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        by_worker[a.worker_id].append(a)
    first: list[Answer] = []
    second: list[Answer] = []
    for w in sorted(by_worker):
        history = sorted(by_worker[w], key=lambda a: (a.started, a.submitted, a.answer_id))
        half = len(history) // 2
        first.extend(history[:half])
        second.extend(history[half:])
    return first, second


def rankdata(x: Sequence[float] | Array) -> Array:
    """Ranks 1..n, ties get the mean of the ranks they span (like scipy's ``average``).

    Examples
    --------
    >>> rankdata([10.0, 20.0, 10.0, 5.0]).tolist()
    [2.5, 4.0, 2.5, 1.0]
    """
    v = np.asarray(x, dtype=np.float64)
    n = len(v)
    order = np.argsort(v, kind="stable")
    sorted_v = v[order]
    starts = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]]) if n else np.zeros(0, int)
    ends = np.r_[starts[1:], n]
    ranks = np.empty(n, dtype=np.float64)
    # Positions start..end-1 hold ranks start+1..end; their mean is (start + end + 1) / 2.
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def spearman(x: Sequence[float] | Array, y: Sequence[float] | Array) -> float:
    """Spearman's rank correlation: Pearson's r of the average ranks.

    Examples
    --------
    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40])
    1.0
    >>> round(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]), 3)
    0.8
    """
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need two sequences of equal length >= 2, got {len(x)} and {len(y)}")
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = float(np.sqrt((rx * rx).sum() * (ry * ry).sum()))
    if denominator == 0.0:
        return float("nan")
    return round(float((rx * ry).sum()) / denominator, 12)


def auc(scores: Sequence[float] | Array, positive: Sequence[bool] | npt.NDArray[np.bool_]) -> float:
    """P(score of a random positive > score of a random negative), ties count half.

    The Mann-Whitney U statistic over n_pos * n_neg, from average ranks.

    Examples
    --------
    >>> auc([0.9, 0.8, 0.3, 0.1], [True, False, True, False])
    0.75
    >>> auc([1.0, 1.0], [True, False])
    0.5
    """
    pos = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if len(scores) != len(pos) or n_pos == 0 or n_neg == 0:
        raise ValueError(f"need positives and negatives, got {n_pos} and {n_neg}")
    ranks = rankdata(scores)
    u = float(ranks[pos].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def bottom_quartile(values: Sequence[float]) -> list[bool]:
    """Whether each value is at or below the 25th percentile (numpy's linear rule).

    Examples
    --------
    >>> bottom_quartile([0.9, 0.5, 0.7, 0.6, 0.8])
    [False, True, False, True, False]
    """
    cut = float(np.quantile(np.asarray(values, dtype=np.float64), 0.25))
    return [v <= cut for v in values]


def resamples(n: int, reps: int, seed: int = 0) -> npt.NDArray[np.int64]:
    """``reps`` bootstrap draws of ``n`` indices in 0..n-1, from a seeded PCG64 (deterministic).

    Examples
    --------
    >>> resamples(3, 2, seed=1).shape, bool((resamples(3, 2, 1) == resamples(3, 2, 1)).all())
    ((2, 3), True)
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.integers(0, n, size=(reps, n), dtype=np.int64)


def interval(draws: Sequence[float] | Array, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of the finite bootstrap values (None if fewer than half are finite).

    Examples
    --------
    >>> [round(x, 6) for x in interval([float(x) for x in range(101)])]
    [2.5, 97.5]
    """
    v = np.asarray(draws, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0 or 2 * len(v) < len(draws):
        return None
    lo, hi = np.quantile(v, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)
