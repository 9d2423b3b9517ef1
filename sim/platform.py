"""The gig platform: task completions, quality scores and payouts for every worker.

Workers work in bursts: a two-state Markov chain decides the active days, an
active day has one to three sessions starting around the operator's usual local
hours, and a session is a run of back-to-back tasks. Each task usually gets one
quality score a little after completion, from the payer or a reviewer agent.
Payers pay per task or once a day per worker; a daily batch is one on-chain
transaction with one log per worker.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from sim.addresses import derive_tx_hash, format_units, present
from sim.config import SimConfig
from sim.entities import Population, Regime, Worker, skill_at
from sim.events import TOPIC_RANK, Event, JSONObject, make_event
from sim.geo import VPN_EXITS, dst_switches, offset_at
from sim.rng import randint, seeded
from sim.times import DAY_S, HOUR_S, format_time

_OUTCOMES = ("accepted", "rejected", "late", "abandoned")
_RANK_TASKS = TOPIC_RANK["tasks"]
_BLOCK = 4096
_RANK_QUALITY = TOPIC_RANK["quality"]
#: Fixed conversion used for payers that pay in ETH (US cents -> wei).
WEI_PER_CENT = 4 * 10**12  # 1 ETH = 2,500 USD


class PayoutIntent(NamedTuple):
    """Money a payer owes a worker for one task, due at `due_ts`.

    A named tuple rather than a frozen dataclass: a run creates ~100,000 of them
    and a frozen dataclass is several times slower to build.
    """

    worker: int
    payer: int
    due_ts: int
    cents: int


class Payout(NamedTuple):
    """A payout as paid: the event fields the chain needs to mirror it as a transfer."""

    worker: int
    payer: int
    paid_ts: int
    wallet: str
    asset: str
    units: int
    tx_hash: str
    log_index: int
    event_id: str


@dataclass(slots=True)
class WorkerActivity:
    """What one worker did: events, payout intents and per-regime first event times."""

    events: list[Event]
    intents: list[PayoutIntent]
    regime_first_ts: list[int | None]
    active_days: set[int]


def _active_days(worker: Worker, cfg: SimConfig, rng: np.random.Generator) -> np.ndarray:
    """Return a boolean array over local days -1..days: bursts from a Markov chain."""
    n = cfg.days + 2
    active = np.zeros(n, dtype=bool)
    u = rng.random(n)
    persona = worker.regimes[0].persona
    state = u[0] < persona.p_active
    weekday0 = (cfg.start_ts // DAY_S + 3) % 7  # 0 = Monday
    for i in range(n):
        day = i - 1
        regime = _regime_on_day(worker, cfg, day)
        p = regime.persona.p_active
        rho = regime.persona.persistence
        if (weekday0 + day) % 7 >= 5:
            p = min(0.97, p * regime.persona.weekend_factor)
        stay = p + (1.0 - p) * rho if state else p * (1.0 - rho)
        state = bool(u[i] < stay)
        state = state or day in worker.forced_days
        active[i] = state and worker.first_day <= day < worker.last_day
    return active


def _regime_index_on_day(worker: Worker, cfg: SimConfig, day: int) -> int:
    """Return the regime of a local day: the one in force at noon UTC of that day."""
    noon = cfg.start_ts + day * DAY_S + DAY_S // 2
    current = 0
    for i, regime in enumerate(worker.regimes):
        if regime.from_ts <= noon:
            current = i
    return current


def _regime_on_day(worker: Worker, cfg: SimConfig, day: int) -> Regime:
    return worker.regimes[_regime_index_on_day(worker, cfg, day)]


def _sample_hour(rng: random.Random, regime: Regime, drift_h: float) -> float:
    persona = regime.persona
    if len(persona.centers_h) == 1:
        center = persona.centers_h[0]
    else:
        center = rng.choices(persona.centers_h, weights=persona.center_weights)[0]
    return (center + drift_h + rng.gauss(0.0, persona.spread_h)) % 24.0


class _Clock(NamedTuple):
    """A regime's UTC offsets over the run: the offset at the start and the DST switches."""

    first: int
    other: int
    switches: list[int]

    def at(self, ts: int) -> int:
        """Return the offset in minutes in force at `ts`."""
        if not self.switches:
            return self.first
        return self.other if bisect(self.switches, ts) % 2 else self.first


def _clock(regime: Regime, lo: int, hi: int) -> _Clock:
    first = offset_at(regime.dst, regime.offset_min, lo)
    switches = dst_switches(regime.dst, regime.offset_min, lo, hi)
    other = regime.offset_min if first != regime.offset_min else regime.offset_min + 60
    return _Clock(first, other, switches)


def _drift_on(regime: Regime, ts: int) -> float:
    if regime.drift_h == 0.0:
        return 0.0
    progress = min(1.0, max(0.0, (ts - regime.from_ts) / (regime.drift_days * DAY_S)))
    return regime.drift_h * progress


def _cumulative(weights: tuple[float, ...]) -> list[float]:
    """Return the running sums of weights, for `bisect` draws."""
    out: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        out.append(acc)
    out[-1] = float("inf")  # guard against rounding: the last item takes the remainder
    return out


def simulate_worker(worker: Worker, pop: Population, cfg: SimConfig) -> WorkerActivity:
    """Return the task and quality events of one worker and what it is owed.

    Parameters
    ----------
    worker
        The worker, with its regimes and payers.
    pop
        The population (payers and reviewers).
    cfg
        Run parameters (horizon, seed).
    """
    rng = seeded(f"{cfg.seed}:activity:{worker.index}")
    nprng = np.random.default_rng([cfg.seed, 7, worker.index])
    active = _active_days(worker, cfg, nprng)
    # Hot loop: bind everything to locals (hundreds of thousands of iterations per run).
    rnd, fmt, exp = rng.random, format_time, math.exp
    # Normal draws come from numpy in blocks: rng.gauss is several times slower.
    normals: list[float] = nprng.standard_normal(_BLOCK).tolist()
    n_at = 0
    events: list[Event] = []
    append = events.append
    intents: list[PayoutIntent] = []
    first_ts: list[int | None] = [None] * len(worker.regimes)
    active_days: set[int] = set()
    wid = worker.worker_id
    num = worker.index + 1
    task_no = 0
    start, end = cfg.start_ts, cfg.end_ts
    payer_ids, payer_cum = worker.payers, _cumulative(worker.payer_weights)
    payers = [pop.payers[i] for i in payer_ids]
    reviewers = pop.reviewers
    n_reviewers = len(reviewers)
    noise = cfg.params.values["quality_noise"]
    r_noise = math.hypot(noise, cfg.params.values["reviewer_noise"])
    r_bias = cfg.params.values["reviewer_bias"]
    # Clocks span the run and a day either side (local days -1..days).
    clocks = [_clock(r, start - 2 * DAY_S, end + 2 * DAY_S) for r in worker.regimes]
    for i in range(cfg.days + 2):
        if not active[i]:
            continue
        day = i - 1
        r_idx = _regime_index_on_day(worker, cfg, day)
        reg = worker.regimes[r_idx]
        persona = reg.persona
        n_sessions = 1 + (rnd() < persona.extra_session_p) + (rnd() < persona.extra_session_p / 2)
        clock = clocks[r_idx]
        noon = start + day * DAY_S + DAY_S // 2
        local_midnight = start + day * DAY_S - clock.at(noon) * 60
        drift = _drift_on(reg, noon)
        starts = sorted(
            local_midnight + int(_sample_hour(rng, reg, drift) * HOUR_S) for _ in range(n_sessions)
        )
        home_asns, home_asn_cum = reg.asns, _cumulative(reg.asn_weights)
        devices, dev_cum = reg.devices, _cumulative(reg.device_weights)
        task_s = 60 * persona.task_minutes
        lam = persona.tasks_per_session * reg.rate_mult
        declining = reg.skill_decline > 0.0
        skill = reg.skill
        cut_abandon = reg.p_abandon
        cut_reject = cut_abandon + _p_reject(reg, skill)
        cut_late = cut_reject + reg.p_late
        busy_until = 0
        for session_start in starts:
            t = max(session_start, busy_until + 600)
            country = reg.country
            asns, asn_cum = home_asns, home_asn_cum
            if reg.vpn_share and rnd() < reg.vpn_share:
                # A VPN session: the exit's network and country, the device's own clock.
                exit_asn, country = VPN_EXITS[int(rnd() * len(VPN_EXITS))]
                asns, asn_cum = (exit_asn,), [float("inf")]
            for _ in range(1 + _poisson(rng, lam)):
                if t < start or t >= end:
                    t += 1800
                    continue
                if n_at >= _BLOCK - 2:
                    normals, n_at = nprng.standard_normal(_BLOCK).tolist(), 0
                z_duration, z_score = normals[n_at], normals[n_at + 1]
                n_at += 2
                duration = max(120, int(task_s * exp(0.45 * z_duration)))
                if declining:
                    skill = skill_at(reg, t)
                    cut_reject = cut_abandon + _p_reject(reg, skill)
                    cut_late = cut_reject + reg.p_late
                u = rnd()
                if u < cut_abandon:
                    outcome = 3
                    duration = max(60, int(duration * (0.2 + 0.6 * rnd())))
                elif u < cut_reject:
                    outcome = 1
                elif u < cut_late:
                    outcome = 2
                    duration = int(duration * (1.3 + 1.2 * rnd()))
                else:
                    outcome = 0
                completed = t + duration
                if completed >= end:
                    t = end
                    break
                task_no += 1
                k = bisect(payer_cum, rnd()) if len(payer_cum) > 1 else 0
                payer = payers[k]
                low, high = payer.reward_cents
                cents = low + int(rnd() * (high - low + 1))
                task_id = f"k-{num}-{task_no}"
                t_id = f"t-{num}-{task_no}"
                task: JSONObject = {
                    "event_id": t_id,
                    "worker_id": wid,
                    "payer_id": payer.payer_id,
                    "task_id": task_id,
                    "outcome": _OUTCOMES[outcome],
                    "assigned_at": fmt(t),
                    "completed_at": fmt(completed),
                }
                if payer.includes_reward:
                    task["reward"] = {
                        "amount": _amount_text(payer.asset, cents),
                        "asset": payer.asset,
                    }
                ctx_roll = rnd()
                if ctx_roll >= 0.01:
                    context: JSONObject = {
                        "utc_offset_min": clock.at(t),
                        "ip_asn": asns[bisect(asn_cum, rnd())] if len(asns) > 1 else asns[0],
                        "country": country,
                    }
                    if ctx_roll >= 0.02:
                        context["device_id"] = (
                            devices[bisect(dev_cum, rnd())] if len(devices) > 1 else devices[0]
                        )
                    task["context"] = context
                append(Event(completed, _RANK_TASKS, t_id, "tasks", wid, task))
                if first_ts[r_idx] is None:
                    first_ts[r_idx] = completed
                active_days.add((completed - start) // DAY_S)
                if outcome != 3 and rnd() < 0.95:
                    # One quality score a little after completion, by the payer or a reviewer.
                    mean = skill - (0.35 if outcome == 1 else 0.05 if outcome == 2 else 0.0)
                    if n_reviewers and rnd() < payer.reviewer_share:
                        scorer = reviewers[int(rnd() * n_reviewers)]
                        scored = completed + 1800 + int(rnd() * 5 * HOUR_S)
                        score = min(1.0, max(0.0, mean + r_bias + r_noise * z_score))
                    else:
                        scorer = payer.payer_id
                        scored = completed + 120 + int(rnd() * (3 * HOUR_S - 120))
                        score = min(1.0, max(0.0, mean + noise * z_score))
                    q_id = f"q-{num}-{task_no}"
                    q: JSONObject = {
                        "event_id": q_id,
                        "worker_id": wid,
                        "task_id": task_id,
                        "scorer_id": scorer,
                        "score": round(score, 3),
                    }
                    if rnd() < 0.3:
                        q["weight"] = (0.5, 1.0, 2.0)[int(rnd() * 3)]
                    q["scored_at"] = fmt(scored)
                    if scored < end:  # a score given after the run is not part of it
                        append(Event(scored, _RANK_QUALITY, q_id, "quality", wid, q))
                if outcome == 0 or outcome == 2:
                    owed = cents if outcome == 0 else cents // 2
                    if payer.mode == "per_task":
                        due = completed + 60 + int(rnd() * 3540)
                    else:
                        due = _next_batch(completed + 600, payer.batch_hour_utc)
                    intents.append(PayoutIntent(worker.index, payer_ids[k], due, owed))
                t = completed + 60 + int(rnd() * 540)
            busy_until = t
    return WorkerActivity(events, intents, first_ts, active_days)


def _p_reject(regime: Regime, skill: float) -> float:
    """Return the rejection probability of a task done at the given skill."""
    return min(0.7, max(0.005, regime.reject_base + 0.35 * max(0.0, 0.85 - skill)))


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: lam is small (a few tasks per session).
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _next_batch(ts: int, hour: int) -> int:
    day_start = ts - ts % DAY_S
    batch = day_start + hour * HOUR_S
    return batch if batch >= ts else batch + DAY_S


@lru_cache(maxsize=16_384)
def _amount_text(asset: str, cents: int) -> str:
    """Return a reward or payout in US cents as the asset's decimal string."""
    if asset == "ETH":
        return format_units(cents * WEI_PER_CENT, 18)
    return format_units(cents, 2, 2)


def settle_payouts(
    intents: list[PayoutIntent], pop: Population, cfg: SimConfig
) -> tuple[list[Event], list[Payout]]:
    """Turn what is owed into payout events, batching daily payers per worker.

    A daily batch of one payer is one transaction (one tx hash) with a log per
    worker; a per-task payout is a transaction of its own.

    Parameters
    ----------
    intents
        Owed amounts from `simulate_worker`, any order.
    pop, cfg
        The population and the run parameters.
    """
    rng = seeded(f"{cfg.seed}:payouts")
    grouped: dict[tuple[int, int, int], int] = {}
    for it in intents:
        # Per-task payouts keep their own due time; daily ones merge per (payer, batch, worker).
        key = (it.payer, it.due_ts, it.worker)
        grouped[key] = grouped.get(key, 0) + it.cents
    by_tx: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for (p_idx, due, w_idx), cents in sorted(grouped.items()):
        payer = pop.payers[p_idx]
        tx_key = (p_idx, due) if payer.mode == "daily" else (p_idx, due * 100_000 + w_idx)
        by_tx.setdefault(tx_key, []).append((w_idx, cents))
    rows: list[tuple[int, int, int, int, int, int]] = []  # paid, payer, tx, log, worker, cents
    for (p_idx, tx_no), members in sorted(by_tx.items()):
        paid = tx_no if pop.payers[p_idx].mode == "daily" else tx_no // 100_000
        if paid >= cfg.end_ts:
            continue
        first_log = randint(rng, 0, 199)
        for j, (w_idx, cents) in enumerate(members):
            rows.append((paid, p_idx, tx_no, first_log + j, w_idx, cents))
    rows.sort()
    events: list[Event] = []
    payouts: list[Payout] = []
    per_worker: dict[int, int] = {}
    tx_hashes: dict[tuple[int, int], str] = {}
    for paid, p_idx, tx_no, log_index, w_idx, cents in rows:
        payer = pop.payers[p_idx]
        tx_hash = tx_hashes.get((p_idx, tx_no))
        if tx_hash is None:
            tx_hash = derive_tx_hash(cfg.seed, f"payout:{payer.payer_id}:{tx_no}")
            tx_hashes[(p_idx, tx_no)] = tx_hash
        worker = pop.workers[w_idx]
        wallet = worker.wallet_at(paid)
        units = cents * (WEI_PER_CENT if payer.asset == "ETH" else 10_000)
        amount = _amount_text(payer.asset, cents)
        per_worker[w_idx] = n = per_worker.get(w_idx, 0) + 1
        event_id = f"p-{w_idx + 1}-{n}"
        payload: JSONObject = {
            "event_id": event_id,
            "worker_id": worker.worker_id,
            "payer_id": payer.payer_id,
            "wallet": present(wallet, payer.checksummed),
            "chain_id": 1,
            "asset": payer.asset,
            "amount": amount,
            "tx_hash": tx_hash,
            "paid_at": format_time(paid),
        }
        events.append(make_event(paid, "payouts", worker.worker_id, payload))
        payouts.append(
            Payout(w_idx, p_idx, paid, wallet, payer.asset, units, tx_hash, log_index, event_id)
        )
    return events, payouts
