"""The trust score estimates work quality; tenure, volume and payers gate the band (issue 11)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reputation.assess import assess, explain
from reputation.events import WorkerEvent
from reputation.model import TrustModel
from reputation.state import WorkerState, apply_event
from tests.reputation.conftest import T0, WIDE, kind_of, payout, quality, task, worker_events

MODEL = TrustModel()


def state_of(events: Sequence[WorkerEvent], worker: str = "w-1") -> WorkerState:
    s = WorkerState(worker)
    for e in events:
        s = apply_event(MODEL, s, kind_of(e), e, WIDE)
    return s


def history(
    worker: str, days: int, per_day: int, payers: int, score: float, start: int = 0
) -> list[WorkerEvent]:
    out: list[WorkerEvent] = []
    for d in range(days):
        for j in range(per_day):
            i = start + d * per_day + j
            day = d + 0.05 * j
            out.append(task(i, worker, day=day, payer=f"p-{i % payers}"))
            out.append(quality(i, worker, day=day + 0.01, score=score))
            out.append(payout(i, worker, day=day + 0.02, payer=f"p-{i % payers}", amount="40"))
    return out


def test_issue_11_good_short_history_outranks_mediocre_long_history_but_is_not_trusted() -> None:
    # A week of excellent work for one payer against four months of mediocre work for
    # five payers, each read at its latest event, every task accepted.
    veteran = state_of(history("w-old", 120, 3, 5, score=0.72), "w-old")
    newcomer = state_of(
        [
            e
            for e in history("w-new", 7, 6, 1, score=0.95, start=10_000)
            if not hasattr(e, "wallet")  # no payouts yet
        ],
        "w-new",
    )
    old, new = assess(MODEL, veteran), assess(MODEL, newcomer)
    assert new.score > old.score + 0.1, (new.score, old.score)
    # ... but trust is earned: the newcomer cannot be trusted yet.
    assert new.band == "standard", new.band_rule
    assert {"SHORT_HISTORY", "FEW_PAYERS"} <= set(new.reasons)
    # Tenure, volume and payers show in the payment-history component, not in the score.
    assert new.components.payment_history < old.components.payment_history
    assert explain(MODEL, newcomer)["components"]["payment_history"]["weight"] == 0.0  # type: ignore[index]


def test_issue_11_the_same_quality_gives_the_same_score_whatever_the_tenure() -> None:
    short = state_of(history("w-a", 10, 10, 1, score=0.9), "w-a")
    long_ = state_of(history("w-b", 100, 1, 6, score=0.9), "w-b")
    a, b = assess(MODEL, short), assess(MODEL, long_)
    assert math.isclose(a.score, b.score, abs_tol=0.01), (a.score, b.score)
    assert b.band == "trusted" and a.band != "trusted"


def test_a_quality_scored_task_is_not_counted_again_by_its_outcome() -> None:
    # Every task rejected but every output scored 0.8: the graded verdict replaces the
    # thresholded one, so the score is the quality posterior, not dragged to 0.
    events: list[WorkerEvent] = []
    for i in range(50):
        events.append(task(i, day=i * 0.1, outcome="rejected"))
        events.append(quality(i, day=i * 0.1 + 0.01, score=0.8))
    r = assess(MODEL, state_of(events))
    assert math.isclose(r.score, 0.8, abs_tol=1e-9)
    assert r.components.reliability < 0.2  # still published, and still a reason
    assert "LOW_RELIABILITY" in r.reasons


def test_unscored_tasks_count_by_their_outcome() -> None:
    scored: list[WorkerEvent] = [quality(i, day=i * 0.1 + 0.01, score=0.9) for i in range(20)]
    done: list[WorkerEvent] = [task(i, day=i * 0.1) for i in range(20)]
    abandoned: list[WorkerEvent] = [
        task(100 + i, day=i * 0.1 + 0.05, outcome="abandoned") for i in range(20)
    ]
    base = assess(MODEL, state_of(scored + done))
    worse = assess(MODEL, state_of(scored + done + abandoned))
    assert worse.score < base.score - 0.2
    x = explain(MODEL, state_of(scored + done + abandoned))
    inputs = x["score_inputs"]
    assert isinstance(inputs, dict)  # of floats; the rule is a str
    assert math.isclose(inputs["unscored_tasks"], 20.0, abs_tol=1e-9)
    # The 20 scored tasks take the 20 accepted outcomes: the unscored ones earn nothing.
    assert inputs["unscored_outcome_credit"] < 0.05


@settings(max_examples=80, deadline=None)
@given(worker_events(workers=1), st.sampled_from([0.0, 5.0, 45.0, 400.0]))
def test_explain_adds_up_to_the_score(events: list[WorkerEvent], later: float) -> None:
    s = state_of(events, events[0].worker_id)
    at = T0 + timedelta(days=401 + later)
    x: Any = explain(MODEL, s, at)
    i: Any = x["score_inputs"]
    c: Any = x["components"]
    prior, total = i["prior"], i["quality_weight"] + i["unscored_tasks"]
    if total > 0:
        mean = (i["quality_sum"] + i["unscored_outcome_credit"]) / total
        assert math.isclose(i["record_mean"], mean, abs_tol=1e-9)
        recomputed = prior + (mean - prior) * i["freshness"]
    else:
        assert i["record_mean"] is None
        recomputed = prior
    assert math.isclose(x["score_uncapped"], min(1.0, max(0.0, recomputed)), abs_tol=1e-9)
    shares = c["quality"]["weight"] + c["reliability"]["weight"] + i["prior_share"]
    assert math.isclose(shares, 1.0, abs_tol=1e-9)
    assert x["score"] == assess(MODEL, s, at).score


def test_decay_takes_the_score_back_to_the_prior_and_confidence_down() -> None:
    s = state_of(history("w-1", 40, 3, 4, score=0.95))
    last = T0 + timedelta(days=40)
    rs = [assess(MODEL, s, last + timedelta(days=d)) for d in (0, 30, 180, 3650)]
    assert all(a.score > b.score for a, b in zip(rs, rs[1:], strict=False))
    assert all(a.confidence > b.confidence for a, b in zip(rs, rs[1:], strict=False))
    assert math.isclose(rs[-1].score, MODEL.prior_score, abs_tol=1e-6)


def test_weak_but_honest_work_is_standard_and_poor_work_is_review() -> None:
    # The score is the work quality now; review keeps meaning "clearly poor work".
    weak = assess(MODEL, state_of(history("w-1", 60, 3, 4, score=0.47)))
    poor = assess(MODEL, state_of(history("w-1", 60, 3, 4, score=0.3)))
    assert weak.band == "standard", weak.band_rule
    assert poor.band == "review", poor.band_rule
    assert poor.reasons[0] == "LOW_QUALITY"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 500), st.floats(0, 1)),
        min_size=1,
        max_size=40,
    )
)
def test_issue_11_read_at_its_latest_event_the_score_is_the_records_mean_quality(
    answers: list[tuple[float, float]],
) -> None:
    # Whatever the timeline (a harness may invent one from file order), a worker
    # read at its own latest event scores its plain mean quality, so trust ranks
    # workers exactly as their mean agreement does (issue 11 item 5).
    events: list[WorkerEvent] = []
    for i, (day, score) in enumerate(answers):
        events.append(task(i, day=day))
        events.append(quality(i, day=day, score=score))
    r = assess(MODEL, state_of(events))
    mean = math.fsum(s for _, s in answers) / len(answers)
    assert math.isclose(r.score, mean, abs_tol=1e-9), (r.score, mean)


def test_issue_11_a_returning_workers_few_new_answers_do_not_outweigh_its_record() -> None:
    # 200 good answers, then 14 months away, then 5 poor ones (CrowdTruth medical has
    # 15 such workers): the record, not the calendar, weighs them.
    events: list[WorkerEvent] = []
    for i in range(200):
        events += [task(i, day=i * 0.05), quality(i, day=i * 0.05, score=0.9)]
    for i in range(200, 205):
        events += [task(i, day=430 + i * 0.01), quality(i, day=430 + i * 0.01, score=0.3)]
    r = assess(MODEL, state_of(events))
    assert math.isclose(r.score, (200 * 0.9 + 5 * 0.3) / 205, abs_tol=1e-9)


def test_the_score_fades_to_the_prior_with_the_age_of_the_latest_evidence() -> None:
    events: list[WorkerEvent] = []
    for i in range(50):
        events += [task(i, day=i * 0.1), quality(i, day=i * 0.1, score=0.95)]
    s = state_of(events)
    latest = assess(MODEL, s)
    later = assess(MODEL, s, latest.as_of + timedelta(days=MODEL.half_life_days))
    halfway = MODEL.prior_score + (0.95 - MODEL.prior_score) / 2
    assert math.isclose(later.score, halfway, abs_tol=1e-9), later.score
    assert later.confidence < latest.confidence
