"""Population parameters drawn per seed, so that a detector cannot be fitted to one setting.

Every seed draws its own platform: how active workers are, how long their
sessions run, how good and how noisy their work and its reviewers are, where
they live, how they are paid, what they do with their money and how common
each honest habit and each bad kind is. The ranges are broad but plausible for
microtask crowd work. ``SimConfig(randomise=False)`` uses the centre of every
range instead (the nominal platform).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sim.rng import seeded

#: Honest traits, each drawn per honest worker with its own per-seed rate.
#: ``dst``, ``exchange_user`` and ``dex_user`` are not drawn from a rate here:
#: DST follows the country, the other two the wallet habits.
TRAITS: tuple[str, ...] = (
    "traveller",
    "dst",
    "new_laptop",
    "new_isp",
    "vpn",
    "night_owl",
    "wallet_change",
    "exchange_user",
    "dex_user",
    "hours_drift",
    "many_ips",
)

#: Traits with a per-seed rate among honest workers: name -> (low, high) share.
TRAIT_RATES: dict[str, tuple[float, float]] = {
    "traveller": (0.02, 0.08),
    "new_laptop": (0.03, 0.10),
    "new_isp": (0.02, 0.08),
    "vpn": (0.03, 0.12),
    "night_owl": (0.01, 0.05),
    "wallet_change": (0.005, 0.03),
    "hours_drift": (0.03, 0.10),
}

#: Ranges of the scalar parameters: name -> (low, high).
RANGES: dict[str, tuple[float, float]] = {
    # rhythm
    "p_active": (0.30, 0.75),
    "persistence": (0.25, 0.70),
    "weekend_factor": (0.5, 1.2),
    "tasks_per_session": (0.8, 4.5),
    "task_minutes": (8.0, 50.0),
    "extra_session_p": (0.05, 0.45),
    "spread_h": (0.6, 1.8),
    "second_peak_share": (0.10, 0.40),
    # quality
    "skill_mean": (0.74, 0.92),
    "quality_noise": (0.03, 0.12),
    "reviewer_noise": (0.0, 0.15),
    "reviewer_bias": (-0.06, 0.04),
    "reject_base": (0.005, 0.05),
    # context
    "multi_asn_share": (0.3, 0.7),
    "multi_device_share": (0.2, 0.6),
    "tz_concentration": (0.3, 1.6),
    # money
    "daily_payer_share": (0.2, 0.8),
    "sweep_days_low": (1.0, 5.0),
    "sweep_days_span": (2.0, 10.0),
    "exchange_user_share": (0.40, 0.85),
    "direct_deposit_share": (0.05, 0.30),
    "withdraw_share": (0.15, 0.60),
    "dex_user_share": (0.05, 0.30),
    "peer_payment_p": (0.02, 0.12),
    # services on chain
    "exchanges": (3.0, 6.0),
    "dex_pools": (3.0, 6.0),
    "dex_routers": (1.0, 3.0),
    "hub_counterparties": (150.0, 450.0),
    "listed_hub_users": (8.0, 24.0),
}

#: Parameters that are whole numbers.
_INTEGERS = frozenset(
    {"exchanges", "dex_pools", "dex_routers", "hub_counterparties", "listed_hub_users"}
)

#: Range of the per-seed multiplier of each special kind's default share.
KIND_SCALE = (0.5, 2.0)


@dataclass(frozen=True, slots=True)
class PopulationParams:
    """The platform's population parameters of one run (recorded in truth.json).

    Parameters
    ----------
    values
        Scalar parameters by name (`RANGES`), e.g. ``p_active`` (the centre of the
        workers' share of active days) or ``quality_noise`` (standard deviation
        of a task's score around the worker's skill).
    trait_rates
        Share of honest workers with each drawn trait (`TRAIT_RATES`).
    kind_scale
        Multiplier of each special kind's default share (sizes not given explicitly).
    country_weights
        Weight of each home country (the timezone mix).
    randomised
        False for the nominal platform (the centre of every range).

    Examples
    --------
    >>> a, b = draw_params(1), draw_params(2)
    >>> a == draw_params(1), a.values["p_active"] != b.values["p_active"]
    (True, True)
    >>> lo, hi = RANGES["quality_noise"]
    >>> lo <= a.values["quality_noise"] <= hi
    True
    >>> draw_params(1, randomise=False).values["exchanges"]
    4.0
    """

    values: dict[str, float]
    trait_rates: dict[str, float]
    kind_scale: dict[str, float]
    country_weights: dict[str, float]
    randomised: bool = True

    def get(self, name: str) -> float:
        """Return the scalar parameter `name`."""
        return self.values[name]

    def count(self, name: str) -> int:
        """Return the whole-number parameter `name` as an int."""
        return round(self.values[name])

    def to_record(self) -> dict[str, object]:
        """Return the parameters as a JSON-ready mapping (rounded to 4 places)."""
        return {
            "randomised": self.randomised,
            "values": {k: round(v, 4) for k, v in sorted(self.values.items())},
            "trait_rates": {k: round(v, 4) for k, v in sorted(self.trait_rates.items())},
            "kind_scale": {k: round(v, 4) for k, v in sorted(self.kind_scale.items())},
            "country_weights": {k: round(v, 4) for k, v in sorted(self.country_weights.items())},
        }


def _uniform(rng: random.Random | None, lo: float, hi: float) -> float:
    return (lo + hi) / 2 if rng is None else rng.uniform(lo, hi)


def draw_params(seed: int, randomise: bool = True, kinds: tuple[str, ...] = ()) -> PopulationParams:
    """Return the population parameters of a seed (the nominal ones if not `randomise`).

    Parameters
    ----------
    seed
        The run seed; the parameters come from their own generator, so they do
        not depend on any other draw.
    randomise
        Draw from the ranges (True) or take their centres (False).
    kinds
        Special kinds whose default share gets a per-seed multiplier.
    """
    from sim.geo import HOME_COUNTRIES

    rng = seeded(f"{seed}:params") if randomise else None
    values: dict[str, float] = {}
    for name, (lo, hi) in RANGES.items():
        value = _uniform(rng, lo, hi)
        values[name] = float(round(value)) if name in _INTEGERS else value
    rates = {name: _uniform(rng, lo, hi) for name, (lo, hi) in TRAIT_RATES.items()}
    scale = {kind: _uniform(rng, *KIND_SCALE) if rng else 1.0 for kind in kinds}
    concentration = values["tz_concentration"]
    weights: dict[str, float] = {}
    for country in HOME_COUNTRIES:
        # A lognormal factor per country: some seeds are mostly one region, others mixed.
        factor = rng.lognormvariate(0.0, concentration) if rng else 1.0
        weights[country.code] = country.weight * factor
    return PopulationParams(values, rates, scale, weights, randomised=randomise)
