"""Honest traits: the habits of good workers that look like change to a naive detector.

A good worker may travel (same laptop, another country, network and UTC offset,
the same local hours), get a new laptop or a new ISP, work through a VPN, work at
night, change wallets, let its hours drift slowly (a new job, a school term),
live where clocks move for daylight-saving time, and cash out through an
exchange or swap on a DEX. Each is recorded as a trait in truth.json so that a
benchmark can say which habit an engine mistakes for fraud.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from sim.addresses import derive_address, derive_device_id
from sim.config import SimConfig
from sim.entities import Regime
from sim.geo import dst_switches, extended_asns, offset_at
from sim.regimes import change_day, day_in, day_ts, other_country
from sim.times import format_time

#: Traits that start a new regime; a worker has at most one of them.
REGIME_TRAITS: tuple[str, ...] = ("traveller", "new_laptop", "new_isp", "hours_drift")


@dataclass(slots=True)
class TraitPlan:
    """A worker's regimes, wallets and traits while they are being assembled."""

    regimes: list[Regime]
    wallets: list[tuple[int, str]]
    forced: list[int] = field(default_factory=list)
    traits: set[str] = field(default_factory=set)
    info: dict[str, dict[str, object]] = field(default_factory=dict)


def roll_regime_trait(rng: random.Random, rates: dict[str, float]) -> str | None:
    """Return the regime-changing trait of an honest worker, or None (one draw)."""
    u = rng.random()
    acc = 0.0
    for trait in REGIME_TRAITS:
        acc += rates[trait]
        if u < acc:
            return trait
    return None


def add_trip(cfg: SimConfig, rng: random.Random, plan: TraitPlan, trips: int = 1) -> None:
    """Add 2-7-day trips abroad: same devices and local hours, new country, ASN, offset."""
    base = plan.regimes[0]
    records: list[dict[str, object]] = []
    lo = max(1, cfg.days // 6)
    for k in range(trips):
        days = min(rng.randint(2, 7), max(2, cfg.days // 3))
        span_lo = lo + k * (cfg.days // (2 * trips) if trips > 1 else 0)
        start_day = day_in(rng, span_lo, cfg.days - days - 1)
        if any(start_day <= int(str(r["end_day"])) + 2 for r in records):
            continue  # overlapping trips: keep the first
        country, off = other_country(rng, base, 120)
        trip_asns = tuple(extended_asns(country.code, 4)[: rng.randint(1, 2)])
        trip = replace(
            base,
            from_ts=day_ts(cfg, start_day, 0.0),
            country=country.code,
            offset_min=off,
            asns=trip_asns,
            asn_weights=tuple([1.0 / len(trip_asns)] * len(trip_asns)),
            dst=country.dst,
            vpn_share=0.0,
        )
        back = replace(base, from_ts=day_ts(cfg, start_day + days, 0.0))
        plan.regimes += [trip, back]
        plan.forced += [start_day, start_day + 1, start_day + days]
        records.append(
            {
                "start": format_time(trip.from_ts),
                "end": format_time(back.from_ts),
                "end_day": start_day + days,
                "days": days,
                "country": country.code,
                "offset_min": offset_at(country.dst, off, trip.from_ts),
                "asns": list(trip_asns),
            }
        )
    for r in records:
        del r["end_day"]
    plan.traits.add("traveller")
    plan.info["traveller"] = {"trips": records}


def add_new_laptop(cfg: SimConfig, rng: random.Random, plan: TraitPlan, label: str) -> None:
    """Give the worker a new device id from some day on; same networks."""
    base = plan.regimes[0]
    day = day_in(rng, max(1, cfg.days // 6), cfg.days - 1)
    device = derive_device_id(cfg.seed, label + ":new-laptop")
    plan.regimes.append(
        replace(base, from_ts=day_ts(cfg, day, 0.0), devices=(device,), device_weights=(1.0,))
    )
    plan.forced.append(day)
    plan.traits.add("new_laptop")
    plan.info["new_laptop"] = {"at": format_time(day_ts(cfg, day, 0.0)), "device_id": device}


def add_new_isp(cfg: SimConfig, rng: random.Random, plan: TraitPlan) -> None:
    """Give the worker a new home ASN in the same country from some day on; same devices."""
    base = plan.regimes[0]
    day = day_in(rng, max(1, cfg.days // 6), cfg.days - 1)
    pool = [a for a in extended_asns(base.country, 8) if a not in base.asns]
    asn = pool[rng.randrange(len(pool))]
    plan.regimes.append(
        replace(base, from_ts=day_ts(cfg, day, 0.0), asns=(asn,), asn_weights=(1.0,))
    )
    plan.forced.append(day)
    plan.traits.add("new_isp")
    plan.info["new_isp"] = {"at": format_time(day_ts(cfg, day, 0.0)), "asn": asn}


def add_hours_drift(cfg: SimConfig, rng: random.Random, plan: TraitPlan) -> None:
    """Move the local hours 1.5-4 h, gradually over 10-40 days (a new job, a school term)."""
    base = plan.regimes[0]
    day = day_in(rng, max(1, cfg.days // 8), max(2, cfg.days // 2))
    shift = rng.uniform(1.5, 4.0) * rng.choice((-1.0, 1.0))
    ramp = rng.uniform(10.0, 40.0)
    plan.regimes.append(
        replace(base, from_ts=day_ts(cfg, day, 0.0), drift_h=shift, drift_days=ramp)
    )
    plan.traits.add("hours_drift")
    plan.info["hours_drift"] = {
        "start": format_time(day_ts(cfg, day, 0.0)),
        "shift_h": round(shift, 2),
        "ramp_days": round(ramp, 1),
    }


def add_vpn(rng: random.Random, plan: TraitPlan) -> None:
    """Send a share of sessions through a VPN exit (another ASN and country)."""
    share = rng.uniform(0.2, 0.8)
    plan.regimes = [replace(r, vpn_share=share) for r in plan.regimes]
    plan.traits.add("vpn")
    plan.info["vpn"] = {"session_share": round(share, 3)}


def add_wallet_change(cfg: SimConfig, rng: random.Random, plan: TraitPlan, label: str) -> None:
    """Add one payout-wallet change; the chain stage forwards the old wallet's balance."""
    change = day_ts(cfg, change_day(cfg, rng, cfg.days // 3), rng.uniform(0.0, 24.0))
    new_wallet = derive_address(cfg.seed, f"wallet:{label}:1")
    old = plan.wallets[0][1]
    plan.wallets.append((change, new_wallet))
    plan.traits.add("wallet_change")
    plan.info["wallet_change"] = {"old_wallet": old, "new_wallet": new_wallet}


def add_many_ips(rng: random.Random, plan: TraitPlan) -> None:
    """Spread the sessions over 5-12 ASNs, all in the home country."""
    base = plan.regimes[0]
    n = rng.randint(5, 12)
    many = extended_asns(base.country, 12)[:n]
    plan.regimes = [replace(r, asns=many, asn_weights=tuple([1.0 / n] * n)) for r in plan.regimes]
    plan.traits.add("many_ips")
    plan.info["many_ips"] = {"asns": n}


def note_dst(cfg: SimConfig, regimes: tuple[Regime, ...]) -> dict[str, object] | None:
    """Return the DST switches a worker lives through (None when there are none).

    Each switch is ``{"at", "from", "to"}`` (offsets in minutes) of a regime in
    force at that time.
    """
    changes: list[dict[str, object]] = []
    for i, regime in enumerate(regimes):
        if not regime.dst:
            continue
        until = regimes[i + 1].from_ts if i + 1 < len(regimes) else cfg.end_ts
        for at in dst_switches(regime.dst, regime.offset_min, regime.from_ts, until):
            changes.append(
                {
                    "at": format_time(at),
                    "from": offset_at(regime.dst, regime.offset_min, at - 1),
                    "to": offset_at(regime.dst, regime.offset_min, at),
                    "country": regime.country,
                }
            )
    return {"switches": changes} if changes else None


def chain_habits(
    cfg: SimConfig, rng: random.Random, services: dict[str, str], plan: TraitPlan
) -> None:
    """Decide what the worker does with its money: an exchange, a DEX, or neither."""
    v = cfg.params.values
    exchanges = sorted(n for n in services if n.startswith("exchange-"))
    pools = sorted(n for n in services if n.startswith("dex-pool-"))
    routers = sorted(n for n in services if n.startswith("dex-router-"))
    if exchanges and rng.random() < v["exchange_user_share"]:
        plan.traits.add("exchange_user")
        plan.info["exchange_user"] = {
            "exchange": exchanges[rng.randrange(len(exchanges))],
            "via_deposit_address": rng.random() >= v["direct_deposit_share"],
            "withdraws": rng.random() < v["withdraw_share"],
            "sweep_days": round(v["sweep_days_low"] + rng.random() * v["sweep_days_span"], 1),
        }
    if pools and routers and rng.random() < v["dex_user_share"]:
        plan.traits.add("dex_user")
        plan.info["dex_user"] = {
            "pool": pools[rng.randrange(len(pools))],
            "router": routers[rng.randrange(len(routers))],
            "swaps_per_week": round(rng.uniform(0.3, 2.0), 2),
        }
