"""Parameters of one simulated run: the seed, the horizon and the population sizes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime

from reputation.errors import ConfigError
from sim.params import PopulationParams, draw_params
from sim.times import format_time, parse_time

#: Worker kinds, in the order they are listed in truth.json and the docs.
KINDS: tuple[str, ...] = (
    "honest",
    "traveller",
    "night_owl",
    "wallet_change_legit",
    "many_ips",
    "takeover",
    "laptop_farm",
    "ring",
    "sanctioned_direct",
    "sanctioned_linked",
    "sanctioned_retroactive",
    "decoy",
    "quality_decline",
)

#: Kinds whose workers should end up flagged (``bad: true`` in truth.json).
BAD_KINDS: frozenset[str] = frozenset(
    {
        "takeover",
        "laptop_farm",
        "ring",
        "sanctioned_direct",
        "sanctioned_linked",
        "sanctioned_retroactive",
        "quality_decline",
    }
)

#: Honest kinds built to look suspicious to a naive detector.
TRAP_KINDS: tuple[str, ...] = (
    "traveller",
    "night_owl",
    "wallet_change_legit",
    "many_ips",
    "decoy",
)

# Default share of the population per special kind, and the floor used once the
# population is large enough (>= 100 workers) for every kind to be present.
_DEFAULT_SHARE: dict[str, tuple[float, int]] = {
    "traveller": (0.02, 2),
    "night_owl": (0.03, 2),
    "wallet_change_legit": (0.015, 2),
    "many_ips": (0.02, 2),
    "takeover": (0.02, 3),
    "laptop_farm": (0.015, 3),
    "ring": (0.025, 6),
    "sanctioned_direct": (0.003, 2),
    "sanctioned_linked": (0.006, 4),
    "sanctioned_retroactive": (0.004, 3),
    "decoy": (0.006, 5),
    "quality_decline": (0.015, 3),
}

DEFAULT_START = "2026-09-01T00:00:00Z"


class SimulationError(ConfigError):
    """The simulator was given parameters it cannot honour.

    The message names the parameter and the accepted range; fix the command line.
    """

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter


def default_sizes(workers: int, scale: dict[str, float] | None = None) -> dict[str, int]:
    """Return the default number of workers of each special kind for a population.

    Parameters
    ----------
    workers
        Total population size; the ``honest`` kind takes whatever is left.
    scale
        Per-kind multipliers of the default shares (a seed's `PopulationParams`);
        the floors stay.

    Examples
    --------
    >>> sizes = default_sizes(1000)
    >>> sizes["takeover"], sizes["ring"], sizes["sanctioned_direct"]
    (20, 25, 3)
    >>> sum(default_sizes(10).values()) <= 10
    True
    """
    sizes: dict[str, int] = {}
    for kind, (share, floor) in _DEFAULT_SHARE.items():
        n = round(share * (scale or {}).get(kind, 1.0) * workers)
        sizes[kind] = max(n, floor) if workers >= 100 else n
    if workers < 100 and 0 < sizes["ring"] < 3:
        sizes["ring"] = 0  # a ring needs several identities
    return sizes


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything that determines a simulated run: same config, same bytes.

    Parameters
    ----------
    seed
        Seed of every random generator used by the run.
    workers, days
        Population size and horizon in days.
    start
        First instant of the run (tz-aware, UTC).
    sizes
        Number of workers per special kind (see `KINDS`); ``honest`` is the rest.
        Missing kinds take `default_sizes`.
    payers, reviewers
        Number of paying platforms/agents and of reviewer agents that only score.
    invalid_rate
        Probability, per valid event, of adding one deliberately invalid event
        (for dead-letter tests); 0 disables them.
    randomise
        Draw the population parameters (`sim.params`) from the seed (default), or
        use the nominal platform (the centre of every range). The drawn values are
        in ``params`` and in truth.json.

    Examples
    --------
    >>> cfg = SimConfig(seed=1, workers=50, days=20)
    >>> cfg.sizes["honest"] + sum(v for k, v in cfg.sizes.items() if k != "honest")
    50
    >>> SimConfig(seed=1, workers=5, days=20, sizes={"takeover": 9})
    Traceback (most recent call last):
    ...
    sim.config.SimulationError: sizes: special kinds need 9 workers, only 5 requested
    """

    seed: int
    workers: int
    days: int
    start: datetime = dataclasses.field(default_factory=lambda: parse_time(DEFAULT_START))
    sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    payers: int = 15
    reviewers: int = 4
    invalid_rate: float = 0.0
    randomise: bool = True
    params: PopulationParams = dataclasses.field(init=False, repr=False, compare=False)
    start_ts: int = dataclasses.field(init=False, repr=False, compare=False)
    end_ts: int = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise SimulationError("seed", f"must be >= 0, got {self.seed}")
        if self.workers < 1:
            raise SimulationError("workers", f"must be >= 1, got {self.workers}")
        if self.days < 2:
            raise SimulationError("days", f"must be >= 2, got {self.days}")
        if self.start.tzinfo is None:
            raise SimulationError("start", "must be timezone-aware")
        if self.payers < 2:
            raise SimulationError("payers", f"must be >= 2, got {self.payers}")
        if self.reviewers < 0:
            raise SimulationError("reviewers", f"must be >= 0, got {self.reviewers}")
        if not 0.0 <= self.invalid_rate <= 0.5:
            raise SimulationError("invalid_rate", f"must be in [0, 0.5], got {self.invalid_rate}")
        unknown = set(self.sizes) - set(KINDS)
        if unknown:
            raise SimulationError("sizes", f"unknown kinds {sorted(unknown)}; known: {KINDS}")
        params = draw_params(self.seed, self.randomise, KINDS[1:])
        object.__setattr__(self, "params", params)
        sizes = default_sizes(self.workers, params.kind_scale)
        sizes.update({k: v for k, v in self.sizes.items() if k != "honest"})
        for kind, n in sizes.items():
            if n < 0:
                raise SimulationError("sizes", f"{kind} must be >= 0, got {n}")
        if sizes["ring"] == 1:
            raise SimulationError("sizes", "ring needs 0 or at least 2 workers, got 1")
        special = sum(sizes.values())
        if special > self.workers:
            raise SimulationError(
                "sizes", f"special kinds need {special} workers, only {self.workers} requested"
            )
        full = {"honest": self.workers - special, **sizes}
        object.__setattr__(self, "sizes", {k: full[k] for k in KINDS})
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        # Unix seconds of the start and of the (exclusive) end, used on every event.
        object.__setattr__(self, "start_ts", int(self.start.timestamp()))
        object.__setattr__(self, "end_ts", self.start_ts + self.days * 86_400)

    def to_record(self) -> dict[str, object]:
        """Return the parameters as a JSON-ready mapping (for truth.json)."""
        return {
            "seed": self.seed,
            "workers": self.workers,
            "days": self.days,
            "start": format_time(self.start_ts),
            "sizes": dict(self.sizes),
            "payers": self.payers,
            "reviewers": self.reviewers,
            "invalid_rate": self.invalid_rate,
            "randomise": self.randomise,
            "population": self.params.to_record(),
        }
