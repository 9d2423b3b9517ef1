"""Builders of regimes: honest habits, trips, account takeovers, laptop farms, rings.

Habits are drawn around the seed's `sim.params.PopulationParams`, so one seed's
workers are busier, noisier or more spread over timezones than another's.
"""

from __future__ import annotations

import random
from dataclasses import replace

from sim.addresses import derive_device_id
from sim.config import SimConfig
from sim.entities import Persona, Regime
from sim.geo import (
    BY_CODE,
    COUNTRIES,
    HOME_COUNTRIES,
    VPN_ASNS,
    Country,
    countries_near_offset,
    extended_asns,
)
from sim.params import PopulationParams
from sim.times import DAY_S, HOUR_S


def _circ(hours: float) -> float:
    return hours % 24.0


def _weighted_pick(rng: random.Random, items: list[Country], weights: dict[str, float]) -> Country:
    return rng.choices(items, weights=[weights.get(c.code, c.weight) for c in items])[0]


def _around(rng: random.Random, centre: float, spread: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, centre + rng.uniform(-spread, spread)))


def make_persona(rng: random.Random, params: PopulationParams, night_owl: bool = False) -> Persona:
    """Return working habits around the seed's parameters: peak hours, rhythm and volume."""
    v = params.values
    if night_owl:
        main = _circ(rng.uniform(22.5, 27.5))
    else:
        main = rng.triangular(7.5, 22.0, 14.0)
    centers = [main]
    weights = [1.0]
    if rng.random() < v["second_peak_share"]:
        centers.append(_circ(main + rng.choice((-1, 1)) * rng.uniform(4.0, 7.0)))
        weights = [0.7, 0.3]
    return Persona(
        centers_h=tuple(centers),
        center_weights=tuple(weights),
        spread_h=_around(rng, v["spread_h"], 0.4, 0.4, 2.5),
        extra_session_p=_around(rng, v["extra_session_p"], 0.15, 0.0, 0.7),
        tasks_per_session=_around(rng, v["tasks_per_session"], 1.3, 0.3, 7.0),
        task_minutes=_around(rng, v["task_minutes"], 15.0, 5.0, 80.0),
        p_active=_around(rng, v["p_active"], 0.25, 0.1, 0.95),
        persistence=_around(rng, v["persistence"], 0.2, 0.05, 0.9),
        weekend_factor=_around(rng, v["weekend_factor"], 0.35, 0.2, 1.6),
    )


def _asn_mix(
    rng: random.Random, country: str, multi_share: float
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    asns = list(BY_CODE[country].asns)
    rng.shuffle(asns)
    if rng.random() >= multi_share:
        return (asns[0],), (1.0,)
    others = asns[1 : 1 + rng.choice((1, 1, 2))]
    home = rng.uniform(0.65, 0.85)
    return (asns[0], *others), (home, *[(1.0 - home) / len(others)] * len(others))


def _devices(
    rng: random.Random, seed: int, label: str, multi_share: float
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    if rng.random() >= multi_share:
        return (derive_device_id(seed, label + ":0"),), (1.0,)
    return (
        (derive_device_id(seed, label + ":0"), derive_device_id(seed, label + ":1")),
        (0.8, 0.2),
    )


def base_regime(rng: random.Random, cfg: SimConfig, label: str, night_owl: bool) -> Regime:
    """Return an honest worker's regime: home country, ASN mix, devices, skill."""
    v = cfg.params.values
    country = _weighted_pick(rng, list(HOME_COUNTRIES), cfg.params.country_weights)
    asns, asn_w = _asn_mix(rng, country.code, v["multi_asn_share"])
    devices, dev_w = _devices(rng, cfg.seed, label, v["multi_device_share"])
    # Beta with mean skill_mean and a concentration of 10 (the old Beta(8, 2)).
    mean = v["skill_mean"]
    skill = min(0.97, max(0.5, rng.betavariate(10.0 * mean, 10.0 * (1.0 - mean))))
    return Regime(
        from_ts=cfg.start_ts,
        persona=make_persona(rng, cfg.params, night_owl),
        country=country.code,
        offset_min=rng.choice(country.offsets_min),
        asns=asns,
        asn_weights=asn_w,
        devices=devices,
        device_weights=dev_w,
        skill=skill,
        reject_base=_around(rng, v["reject_base"], 0.015, 0.002, 0.1),
        p_late=rng.uniform(0.01, 0.06),
        p_abandon=rng.uniform(0.01, 0.04),
        dst=country.dst,
    )


def day_ts(cfg: SimConfig, day: int, hour: float) -> int:
    """Return Unix seconds of a (UTC) hour on a day of the run."""
    return cfg.start_ts + day * DAY_S + int(hour * HOUR_S)


def other_country(rng: random.Random, home: Regime, min_diff_min: int) -> tuple[Country, int]:
    """Return another country and offset at least `min_diff_min` minutes from home."""
    options: list[tuple[Country, int]] = []
    for country in COUNTRIES:
        for off in country.offsets_min:
            if country.code != home.country and abs(off - home.offset_min) >= min_diff_min:
                options.append((country, off))
    return options[rng.randrange(len(options))]


def engaged(persona: Persona, rng: random.Random) -> Persona:
    """Return the persona with enough activity to produce payouts to analyse."""
    return replace(persona, p_active=max(persona.p_active, rng.uniform(0.5, 0.8)))


def day_in(rng: random.Random, lo: int, hi: int) -> int:
    """Return a day in ``[lo, hi)``, or `lo` when the run is too short for the range."""
    return rng.randrange(lo, hi) if hi > lo else lo


def change_day(cfg: SimConfig, rng: random.Random, lo_days: int = 30) -> int:
    """Return the day of a change: after `lo_days` (or half the run) and before its last sixth."""
    lo = min(lo_days, cfg.days // 2)
    hi = max(lo + 1, cfg.days - max(3, cfg.days // 6))
    return day_in(rng, lo, hi)


def takeover_regime(
    cfg: SimConfig, rng: random.Random, base: Regime, label: str
) -> tuple[Regime, dict[str, object]]:
    """Return the regime of a new operator taking over an account, and its truth fields.

    The hours move by 8-14 h (either way); the device and network are new; in 70 %
    of cases the country and offset are where the new hours are daytime.
    """
    shift = rng.uniform(8.0, 14.0) * rng.choice((-1.0, 1.0))
    takeover_day = change_day(cfg, rng)
    old_utc = [c - base.offset_min / 60 for c in base.persona.centers_h]
    new_utc = [_circ(c + shift) for c in old_utc]
    if rng.random() < 0.7:
        # The new operator lives where the new hours are daytime.
        target = int(round((base.offset_min - shift * 60) / 60.0)) * 60
        target = (target + 720) % 1440 - 720
        near = [(c, o) for c, o in countries_near_offset(target, 120) if c.code != base.country]
        country, offset = near[rng.randrange(len(near))] if near else other_country(rng, base, 480)
    else:  # a proxy in the victim's country with the victim's clock: only the hours move
        country, offset = BY_CODE[base.country], base.offset_min
    pool = [a for a in extended_asns(country.code, 8) if a not in base.asns]
    asns: tuple[int, ...] = (pool[rng.randrange(len(pool))],)
    if rng.random() < 0.35:
        asns = (*asns, VPN_ASNS[rng.randrange(len(VPN_ASNS))])
    asn_w = (1.0,) if len(asns) == 1 else (0.6, 0.4)
    surge = rng.random() < 0.5
    persona = replace(
        base.persona,
        centers_h=tuple(_circ(c + offset / 60) for c in new_utc),
        spread_h=rng.uniform(0.7, 1.4),
        p_active=max(base.persona.p_active, 0.8) if surge else base.persona.p_active,
    )
    proxy = country.code == base.country and offset == base.offset_min
    skill_shift = rng.uniform(0.03, 0.12) * rng.choice((-1.0, 1.0))
    regime = replace(
        base,
        from_ts=day_ts(cfg, takeover_day, 0.0),
        persona=persona,
        country=country.code,
        offset_min=offset,
        asns=asns,
        asn_weights=asn_w,
        devices=(derive_device_id(cfg.seed, label + ":takeover"),),
        device_weights=(1.0,),
        skill=min(0.97, max(0.3, base.skill + skill_shift)),
        rate_mult=rng.uniform(1.8, 3.0) if surge else 1.0,
        dst=base.dst if proxy else country.dst,
        vpn_share=0.0,
        drift_h=0.0,
    )
    info: dict[str, object] = {
        "hour_shift_h": round(shift, 2),
        "old_country": base.country,
        "new_country": country.code,
        "old_offset_min": base.offset_min,
        "new_offset_min": offset,
        "quality_shift": round(skill_shift, 3),
        "velocity_mult": round(regime.rate_mult, 2),
    }
    return regime, info


def laptop_farm_regime(
    cfg: SimConfig, rng: random.Random, base: Regime
) -> tuple[Regime, dict[str, object]]:
    """Return the regime of an operator working the owner's own laptop, and its truth fields.

    Nothing in the context changes: same devices, networks, country, UTC offset
    (and DST rule). The hours move by 8-14 h and the work pattern is the
    operator's: session structure, velocity, task length, maybe quality.
    """
    shift = rng.uniform(8.0, 14.0) * rng.choice((-1.0, 1.0))
    farm_day = change_day(cfg, rng)
    velocity = rng.uniform(1.3, 3.0)
    persona = replace(
        base.persona,
        centers_h=tuple(_circ(c + shift) for c in base.persona.centers_h),
        spread_h=rng.uniform(0.5, 1.2),
        extra_session_p=rng.uniform(0.3, 0.6),
        task_minutes=max(5.0, base.persona.task_minutes * rng.uniform(0.4, 0.8)),
        p_active=max(base.persona.p_active, rng.uniform(0.75, 0.95)),
        persistence=rng.uniform(0.6, 0.9),
        weekend_factor=rng.uniform(0.9, 1.2),
    )
    quality_shift = -rng.uniform(0.0, 0.15) if rng.random() < 0.6 else 0.0
    regime = replace(
        base,
        from_ts=day_ts(cfg, farm_day, 0.0),
        persona=persona,
        skill=min(0.97, max(0.3, base.skill + quality_shift)),
        rate_mult=velocity,
        drift_h=0.0,
    )
    info: dict[str, object] = {
        "hour_shift_h": round(shift, 2),
        "velocity_mult": round(velocity, 2),
        "quality_shift": round(quality_shift, 3),
        "devices": list(base.devices),
        "asns": list(base.asns),
    }
    return regime, info


def ring_regimes(
    cfg: SimConfig, rng: random.Random, members: list[int], ring_id: str
) -> dict[int, tuple[Regime, int]]:
    """Return each ring member's regime and first active day: one operator, many identities."""
    operator = base_regime(rng, cfg, f"{ring_id}:operator", night_owl=False)
    shared_device = rng.random() < 0.5
    out: dict[int, tuple[Regime, int]] = {}
    for j, idx in enumerate(members):
        label = f"w-{idx + 1}"
        jitter = rng.uniform(-0.5, 0.5)
        persona = replace(
            operator.persona,
            centers_h=tuple(_circ(c + jitter) for c in operator.persona.centers_h),
            p_active=rng.uniform(0.45, 0.75),
        )
        if shared_device:
            devices: tuple[str, ...] = (derive_device_id(cfg.seed, f"{ring_id}:device"),)
        else:
            devices = (derive_device_id(cfg.seed, f"{label}:ring:{j}"),)
        regime = replace(
            operator,
            persona=persona,
            asns=(operator.asns[j % len(operator.asns)],),
            asn_weights=(1.0,),
            devices=devices,
            device_weights=(1.0,),
            skill=min(0.97, max(0.4, operator.skill + rng.uniform(-0.05, 0.05))),
        )
        out[idx] = (regime, rng.randrange(0, max(1, min(10, cfg.days // 4))))
    return out


def split_rings(rng: random.Random, n: int) -> list[int]:
    """Return ring sizes (3-5, or 2 when only 2 ring workers exist) summing to `n`.

    Examples
    --------
    >>> sizes = split_rings(random.Random(1), 13)
    >>> sum(sizes), all(3 <= s <= 5 for s in sizes)
    (13, True)
    """
    sizes: list[int] = []
    left = n
    while left > 0:
        size = rng.randint(3, 5)
        if left - size in (1, 2) or size > left:
            size = left if left <= 5 else left - 3
        sizes.append(size)
        left -= size
    return sizes
