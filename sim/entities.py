"""The simulated participants as values: payers, personas, regimes, workers, the population.

A worker is a sequence of `Regime` s (who operates the account, from where, on
which devices, how well) and a timeline of payout wallets. Honest workers keep
one regime, save for the traps (a trip, a new phone); an account takeover
starts a new regime with another operator; a ring is several workers sharing
one operator. `sim.population` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sim.sanctions import ListedAddress
from sim.times import DAY_S

PayoutMode = Literal["per_task", "daily"]
Asset = Literal["USDC", "ETH"]


@dataclass(frozen=True, slots=True)
class Payer:
    """A platform or AI agent that posts tasks and pays for them.

    Parameters
    ----------
    payer_id, treasury
        Id (``platform-2``, ``agent-7``) and the lower-case address it pays from.
    mode, batch_hour_utc
        Pay per task, or once a day per worker at ``batch_hour_utc``.
    asset, reward_cents
        Payout asset and the (low, high) reward range per task in US cents.
    checksummed
        Whether its payout events carry EIP-55 wallet addresses.
    includes_reward, reviewer_share, weight
        Reward in task events?, share of tasks scored by a reviewer agent, popularity.
    """

    payer_id: str
    treasury: str
    mode: PayoutMode
    batch_hour_utc: int
    asset: Asset
    reward_cents: tuple[int, int]
    checksummed: bool
    includes_reward: bool
    reviewer_share: float
    weight: float


@dataclass(frozen=True, slots=True)
class Persona:
    """How an operator works: local session hours, rhythm, volume.

    Parameters
    ----------
    centers_h, center_weights, spread_h
        Local-time hours around which sessions start, their weights, the spread.
    extra_session_p
        Probability of each of up to two extra sessions on an active day.
    tasks_per_session, task_minutes
        Mean tasks per session beyond the first; median task duration.
    p_active, persistence, weekend_factor
        Long-run share of active days, day-to-day persistence (bursts), and the
        relative activity on Saturdays and Sundays.
    """

    centers_h: tuple[float, ...]
    center_weights: tuple[float, ...]
    spread_h: float
    extra_session_p: float
    tasks_per_session: float
    task_minutes: float
    p_active: float
    persistence: float
    weekend_factor: float


@dataclass(frozen=True, slots=True)
class Regime:
    """A stretch of a worker's life with one operator, place, network and skill.

    Parameters
    ----------
    from_ts
        Unix seconds at which the regime starts; it ends where the next one starts.
    persona
        The operator's working habits.
    country, offset_min, asns, asn_weights, devices, device_weights
        The request context.
    skill, skill_decline, decline_days
        Mean quality score at the regime start, the total decline and the days it
        takes to reach it (gradual quality decline).
    reject_base, p_late, p_abandon, rate_mult
        Outcome rates and a multiplier on tasks per session (velocity surge).
    dst
        Daylight-saving rule of the place (`sim.geo.DST_RULES`), or empty;
        ``offset_min`` is then the standard offset.
    vpn_share
        Share of sessions that go through a VPN exit (another ASN and country).
    drift_h, drift_days
        Hours by which the local session hours move, gradually over `drift_days`
        from the regime start (a new job, a school term).
    """

    from_ts: int
    persona: Persona
    country: str
    offset_min: int
    asns: tuple[int, ...]
    asn_weights: tuple[float, ...]
    devices: tuple[str, ...]
    device_weights: tuple[float, ...]
    skill: float
    skill_decline: float = 0.0
    decline_days: float = 1.0
    reject_base: float = 0.02
    p_late: float = 0.04
    p_abandon: float = 0.03
    rate_mult: float = 1.0
    dst: str = ""
    vpn_share: float = 0.0
    drift_h: float = 0.0
    drift_days: float = 1.0


@dataclass(frozen=True, slots=True)
class Worker:
    """A simulated worker identity.

    Parameters
    ----------
    index, worker_id, kind
        Position in the population, id (``w-17``) and ground-truth kind.
    regimes
        At least one `Regime`, sorted by ``from_ts``; the first starts at the run start.
    wallets
        ``(from_ts, lower-case address)`` payout wallet timeline, sorted.
    payers, payer_weights
        Indices of the payers this worker takes tasks from, with preferences.
    first_day, last_day
        Days of the run (0-based, inclusive-exclusive) on which the worker may be active.
    forced_days
        Days on which the worker is certainly active (the first days of a trip or
        of a takeover, so that every change shows in the events).
    info
        Kind-specific ground truth (``ring_id``, ``variant``, ``hour_shift_h`` ...).
    traits
        Honest traits (`sim.params.TRAITS`), sorted.
    trait_info
        Per trait, its ground truth (when a new laptop appears, the trips ...).
    """

    index: int
    worker_id: str
    kind: str
    regimes: tuple[Regime, ...]
    wallets: tuple[tuple[int, str], ...]
    payers: tuple[int, ...]
    payer_weights: tuple[float, ...]
    first_day: int
    last_day: int
    forced_days: tuple[int, ...] = ()
    info: dict[str, object] = field(default_factory=dict)
    traits: tuple[str, ...] = ()
    trait_info: dict[str, dict[str, object]] = field(default_factory=dict)

    def wallet_at(self, ts: int) -> str:
        """Return the payout wallet in force at `ts`."""
        if len(self.wallets) == 1:
            return self.wallets[0][1]
        current = self.wallets[0][1]
        for from_ts, address in self.wallets:
            if from_ts <= ts:
                current = address
            else:
                break
        return current


@dataclass(frozen=True, slots=True)
class Population:
    """Payers, reviewer agents, workers and the sanctions roles chosen for this run.

    Parameters
    ----------
    payers, reviewers, workers
        The participants; reviewers are ids of agents that only score.
    service_addresses
        Services by name: exchange hot wallets (``exchange-N-hot``), DEX pools
        (``dex-pool-N``) and routers (``dex-router-N``).
    initial_listed
        List entries emitted at the start of the run (or at their listing time,
        if that falls inside the run).
    withheld
        Real list entries kept back and published during the run instead
        (retroactive matches); their in-run time is decided by `sim.chain`.
    delisting
        An entry that is listed at the start and delisted at ``delisted_at``.
    delisted_at
        Unix seconds of the delisting (0 when there is none).
    """

    payers: tuple[Payer, ...]
    reviewers: tuple[str, ...]
    workers: tuple[Worker, ...]
    service_addresses: dict[str, str]
    initial_listed: tuple[ListedAddress, ...]
    withheld: tuple[ListedAddress, ...]
    delisting: ListedAddress | None
    delisted_at: int


def skill_at(regime: Regime, ts: int) -> float:
    """Return the regime's mean quality at `ts`, following any gradual decline.

    Examples
    --------
    >>> r = Regime(0, Persona((9.0,), (1.0,), 1.0, 0.1, 1.0, 20.0, 0.5, 0.5, 1.0), "US", -300,
    ...            (7922,), (1.0,), ("d-1",), (1.0,), skill=0.9, skill_decline=0.4,
    ...            decline_days=10.0)
    >>> round(skill_at(r, 5 * 86_400), 3), round(skill_at(r, 50 * 86_400), 3)
    (0.7, 0.5)
    """
    if regime.skill_decline <= 0.0:
        return regime.skill
    progress = min(1.0, max(0.0, (ts - regime.from_ts) / (regime.decline_days * DAY_S)))
    return regime.skill - regime.skill_decline * progress
