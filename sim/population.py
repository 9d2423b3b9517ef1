"""Who is on the simulated platform: payers, reviewer agents and workers of every kind.

Building the population is pure: it depends only on the config, the sanctions
lists and the seed. Kinds are shuffled over worker ids, so an id says nothing
about its kind.
"""

from __future__ import annotations

import random
from dataclasses import replace

from sim.addresses import derive_address
from sim.config import SimConfig, SimulationError
from sim.entities import Payer, Population, Regime, Worker
from sim.regimes import (
    base_regime,
    change_day,
    day_in,
    day_ts,
    engaged,
    laptop_farm_regime,
    ring_regimes,
    split_rings,
    takeover_regime,
)
from sim.rng import seeded
from sim.sanctions import ListedAddress, SanctionsLists
from sim.times import DAY_S
from sim.traits import (
    TraitPlan,
    add_hours_drift,
    add_many_ips,
    add_new_isp,
    add_new_laptop,
    add_trip,
    add_vpn,
    add_wallet_change,
    chain_habits,
    note_dst,
    roll_regime_trait,
)

#: Kinds that are good: honest workers and the trap kinds; they get drawn honest traits.
_GOOD = ("honest", "traveller", "night_owl", "wallet_change_legit", "many_ips", "decoy")


def _make_payers(cfg: SimConfig, rng: random.Random) -> tuple[tuple[Payer, ...], tuple[str, ...]]:
    n_platforms = max(1, round(cfg.payers * 0.25))
    payers: list[Payer] = []
    for i in range(cfg.payers):
        is_platform = i < n_platforms
        payer_id = f"platform-{i + 1}" if is_platform else f"agent-{i - n_platforms + 1}"
        low = rng.choice((300, 500, 800, 1200)) if is_platform else rng.choice((50, 100, 200))
        payers.append(
            Payer(
                payer_id=payer_id,
                treasury=derive_address(cfg.seed, f"treasury:{payer_id}"),
                mode="daily"
                if (is_platform or rng.random() < cfg.params.values["daily_payer_share"])
                else "per_task",
                batch_hour_utc=rng.randrange(24),
                asset="ETH" if (not is_platform and i % 7 == 3) else "USDC",
                reward_cents=(low, low * rng.choice((3, 5, 8))),
                checksummed=rng.random() < 0.5,
                includes_reward=rng.random() < 0.8,
                reviewer_share=rng.choice((0.0, 0.2, 0.5)) if cfg.reviewers else 0.0,
                weight=(4.0 if is_platform else 1.0) * rng.uniform(0.5, 1.5),
            )
        )
    first_reviewer = cfg.payers - n_platforms + 1
    reviewers = tuple(f"agent-{first_reviewer + j}" for j in range(cfg.reviewers))
    return tuple(payers), reviewers


class _Builder:
    """Mutable helper that assembles workers; only `build_population` uses it."""

    def __init__(self, cfg: SimConfig, lists: SanctionsLists) -> None:
        self.cfg = cfg
        self.rng = seeded(f"{cfg.seed}:population")
        self.payers, self.reviewers = _make_payers(cfg, self.rng)
        # Only entries listed before the run starts can play a sanctions role.
        pool = [e for e in lists.listed if e.listed_at <= cfg.start_ts]
        self.rng.shuffle(pool)
        self.listed_pool = pool
        self.listed_cursor = 0
        self.lists = lists

    def take_listed(self, exclusive: bool) -> ListedAddress:
        """Return a listed address; exclusive ones are never handed out again."""
        if not self.listed_pool:
            raise SimulationError("sanctions", "the OFAC list is empty")
        if exclusive:
            if len(self.listed_pool) < 2:
                raise SimulationError(
                    "sizes", "not enough listed addresses for the sanctions kinds"
                )
            return self.listed_pool.pop()
        entry = self.listed_pool[self.listed_cursor % len(self.listed_pool)]
        self.listed_cursor += 1
        return entry

    def payer_mix(self, rng: random.Random) -> tuple[tuple[int, ...], tuple[float, ...]]:
        n = min(len(self.payers), 1 + min(5, int(rng.expovariate(0.6))))
        weights = [p.weight for p in self.payers]
        chosen: list[int] = []
        while len(chosen) < n:
            i = rng.choices(range(len(self.payers)), weights=weights)[0]
            if i not in chosen:
                chosen.append(i)
        prefs = [rng.expovariate(1.0) + 0.05 for _ in chosen]
        total = sum(prefs)
        return tuple(chosen), tuple(p / total for p in prefs)


def make_services(cfg: SimConfig) -> dict[str, str]:
    """Return the run's services by name: exchange hot wallets, DEX pools and routers.

    Examples
    --------
    >>> names = sorted(make_services(SimConfig(seed=1, workers=10, days=5, randomise=False)))
    >>> names[:3], len(names) >= 3 + 3 + 1
    (['dex-pool-1', 'dex-pool-2', 'dex-pool-3'], True)
    """
    counts = (
        ("exchange-{}-hot", max(3, cfg.params.count("exchanges"))),
        ("dex-pool-{}", cfg.params.count("dex_pools")),
        ("dex-router-{}", cfg.params.count("dex_routers")),
    )
    return {
        pattern.format(i + 1): derive_address(cfg.seed, "service:" + pattern.format(i + 1))
        for pattern, n in counts
        for i in range(n)
    }


def build_population(cfg: SimConfig, lists: SanctionsLists) -> Population:
    """Return the payers and workers of a run, with kinds shuffled over worker ids.

    Parameters
    ----------
    cfg
        Run parameters; ``cfg.sizes`` fixes how many workers of each kind exist.
    lists
        The OFAC lists; sanctioned workers are paid to real listed addresses.

    Examples
    --------
    >>> from sim.sanctions import ListedAddress, SanctionsLists
    >>> listed = tuple(ListedAddress(f"0x{i:040x}", "DPRK3", "X", 0) for i in range(1, 30))
    >>> pop = build_population(SimConfig(seed=3, workers=120, days=40), SanctionsLists(listed, ()))
    >>> len(pop.workers), sum(w.kind == "takeover" for w in pop.workers)
    (120, 3)
    """
    b = _Builder(cfg, lists)
    rng = b.rng
    kinds = [k for k, n in cfg.sizes.items() for _ in range(n)]
    rng.shuffle(kinds)

    services = make_services(cfg)
    delisting = lists.delisted[rng.randrange(len(lists.delisted))] if lists.delisted else None
    delisted_at = day_ts(cfg, max(1, int(cfg.days * 0.4)), 10.25) if delisting else 0

    # Sanctions roles are drawn before workers so that they do not depend on ordering.
    direct = [b.take_listed(exclusive=True) for _ in range(cfg.sizes["sanctioned_direct"])]
    retro_variants = ("later_transfer", "later_listing_direct", "later_listing_linked")
    retro_roles: list[tuple[str, ListedAddress]] = []
    for j in range(cfg.sizes["sanctioned_retroactive"]):
        variant = retro_variants[j % 3]
        retro_roles.append((variant, b.take_listed(exclusive=variant != "later_transfer")))
    withheld = {entry.address for v, entry in retro_roles if v != "later_transfer"}

    ring_indices = [i for i, k in enumerate(kinds) if k == "ring"]
    ring_plan: dict[int, tuple[Regime, int]] = {}
    ring_of: dict[int, tuple[str, str, int]] = {}
    cursor = 0
    for r, size in enumerate(split_rings(rng, len(ring_indices))):
        members = ring_indices[cursor : cursor + size]
        cursor += size
        ring_id = f"ring-{r + 1}"
        variant = "shared_wallet" if r % 2 == 0 else "consolidation"
        ring_plan.update(ring_regimes(cfg, seeded(f"{cfg.seed}:{ring_id}"), members, ring_id))
        for j, idx in enumerate(members):
            ring_of[idx] = (ring_id, variant, j)

    workers: list[Worker] = []
    counters: dict[str, int] = {}
    for idx, kind in enumerate(kinds):
        wid = f"w-{idx + 1}"
        wrng = seeded(f"{cfg.seed}:worker:{idx}")
        trng = seeded(f"{cfg.seed}:traits:{idx}")
        nth = counters.get(kind, 0)
        counters[kind] = nth + 1
        good = kind in _GOOD
        night = kind == "night_owl" or (
            good and trng.random() < cfg.params.trait_rates["night_owl"]
        )
        base = base_regime(wrng, cfg, wid, night_owl=night)
        if kind == "decoy":  # active enough to be paid (and so to be linked, if wrongly)
            base = replace(base, persona=engaged(base.persona, wrng))
        first_day, last_day = 0, cfg.days
        if kind == "honest" and wrng.random() < 0.10:
            first_day = day_in(wrng, 1, int(cfg.days * 0.7))
        if kind == "honest" and wrng.random() < 0.05:
            last_day = day_in(wrng, max(first_day + 1, cfg.days // 2), cfg.days)
        regimes: list[Regime] = [base]
        wallet = derive_address(cfg.seed, f"wallet:{wid}:0")
        wallets: list[tuple[int, str]] = [(cfg.start_ts, wallet)]
        info: dict[str, object] = {}
        payers, payer_w = b.payer_mix(wrng)
        forced: tuple[int, ...] = ()
        plan = TraitPlan(regimes, wallets)
        if night:
            plan.traits.add("night_owl")
            plan.info["night_owl"] = {"main_local_hour": round(base.persona.centers_h[0], 2)}
        rates = cfg.params.trait_rates

        if good:
            regime_trait = roll_regime_trait(trng, rates)
            if kind == "traveller":
                add_trip(cfg, trng, plan, trips=1 + (trng.random() < 0.25))
                trip = plan.info["traveller"]["trips"]
                if isinstance(trip, list) and trip:
                    first = trip[0]
                    info = {
                        "trip_country": first["country"],
                        "trip_offset_min": first["offset_min"],
                        "trip_days": first["days"],
                    }
            elif kind == "many_ips":
                add_many_ips(trng, plan)
            elif regime_trait == "traveller":
                add_trip(cfg, trng, plan)
            elif regime_trait == "new_laptop":
                add_new_laptop(cfg, trng, plan, wid)
            elif regime_trait == "new_isp":
                add_new_isp(cfg, trng, plan)
            elif regime_trait == "hours_drift":
                add_hours_drift(cfg, trng, plan)
            if kind != "decoy" and trng.random() < rates["vpn"]:
                add_vpn(trng, plan)
            if kind == "wallet_change_legit" or (
                kind == "honest" and trng.random() < rates["wallet_change"]
            ):
                add_wallet_change(cfg, trng, plan, wid)
                change_info = plan.info["wallet_change"]
                if kind == "wallet_change_legit":
                    info = dict(change_info)
            regimes, wallets, forced = plan.regimes, plan.wallets, tuple(plan.forced)
        if kind == "takeover":
            base = replace(base, persona=engaged(base.persona, wrng))
            takeover, info = takeover_regime(cfg, wrng, base, wid)
            regimes = [base, takeover]
            switch_day = (takeover.from_ts - cfg.start_ts) // DAY_S
            forced = (switch_day, switch_day + 1)
            if wrng.random() < 0.4:
                new_wallet = derive_address(cfg.seed, f"wallet:{wid}:1")
                wallets.append((takeover.from_ts, new_wallet))
                info["new_wallet"] = new_wallet
            info["wallet_changed"] = len(wallets) > 1
        elif kind == "laptop_farm":
            base = replace(base, persona=engaged(base.persona, wrng), vpn_share=0.0)
            farm, info = laptop_farm_regime(cfg, wrng, base)
            regimes = [base, farm]
            switch_day = (farm.from_ts - cfg.start_ts) // DAY_S
            forced = (switch_day, switch_day + 1)
        elif kind == "quality_decline":
            start = day_ts(cfg, change_day(cfg, wrng, cfg.days // 3), 0.0)
            base = replace(base, persona=engaged(base.persona, wrng), skill=max(base.skill, 0.8))
            decline = replace(
                base,
                from_ts=start,
                skill_decline=wrng.uniform(0.20, 0.35),
                decline_days=wrng.uniform(14.0, 28.0),
            )
            regimes = [base, decline]
            info = {
                "decline": round(decline.skill_decline, 3),
                "decline_days": round(decline.decline_days, 1),
            }
        elif kind == "ring":
            ring_id, variant, j = ring_of[idx]
            regime, first_day = ring_plan[idx]
            regimes = [replace(regime, from_ts=cfg.start_ts)]
            if variant == "shared_wallet":
                wallet = derive_address(cfg.seed, f"ring-wallet:{ring_id}")
                wallets = [(cfg.start_ts, wallet)]
            info = {
                "ring_id": ring_id,
                "variant": variant,
                "consolidation": derive_address(cfg.seed, f"consolidation:{ring_id}")
                if variant == "consolidation"
                else None,
            }
            payers, payer_w = b.payer_mix(seeded(f"{cfg.seed}:{ring_id}:payers:{j % 2}"))
        elif kind == "sanctioned_direct":
            base = replace(base, persona=engaged(base.persona, wrng))
            regimes = [base]
            entry = direct[nth]
            wallets = [(cfg.start_ts, entry.address)]
            info = {"listed_address": entry.address, "variant": "direct", "hops": 0}
        elif kind == "sanctioned_linked":
            base = replace(base, persona=engaged(base.persona, wrng))
            regimes = [base]
            hops, direction = ((1, "in"), (2, "in"), (1, "out"), (2, "out"))[nth % 4]
            info = {
                "listed_address": b.take_listed(exclusive=False).address,
                "variant": f"{hops}_hop_{direction}",
                "hops": hops,
                "direction": direction,
            }
        elif kind == "sanctioned_retroactive":
            base = replace(base, persona=engaged(base.persona, wrng))
            regimes = [base]
            variant, entry = retro_roles[nth]
            info = {"listed_address": entry.address, "variant": variant}
            if variant == "later_listing_direct":
                wallets = [(cfg.start_ts, entry.address)]
                info["hops"] = 0
            elif variant == "later_listing_linked":
                info.update(hops=1, direction="in")
            else:
                info.update(hops=(1, 2)[(nth // 3) % 2], direction=("in", "out")[(nth // 3) % 2])
        elif kind == "decoy":
            variants = ["three_hops_in", "via_service_in", "three_hops_out", "via_service_out"]
            if delisting is not None:
                variants.insert(2, "after_delisting")
            variant = variants[nth % len(variants)]
            source = delisting if variant == "after_delisting" and delisting else None
            info = {
                "variant": variant,
                "listed_address": (source or b.take_listed(exclusive=False)).address,
                "service": services[f"exchange-{1 + nth % 3}-hot"]
                if "service" in variant
                else None,
            }
        if kind in ("sanctioned_direct", "sanctioned_linked", "sanctioned_retroactive", "decoy"):
            first_day = min(first_day, cfg.days // 8)
        plan.regimes = sorted(regimes, key=lambda r: r.from_ts)
        dst = note_dst(cfg, tuple(plan.regimes))
        if dst is not None:
            plan.traits.add("dst")
            plan.info["dst"] = dst
        if kind not in ("sanctioned_direct",) and not (
            kind == "ring" and info.get("variant") == "consolidation"
        ):
            chain_habits(cfg, trng, services, plan)

        workers.append(
            Worker(
                index=idx,
                worker_id=wid,
                kind=kind,
                regimes=tuple(plan.regimes),
                wallets=tuple(wallets),
                payers=payers,
                payer_weights=payer_w,
                first_day=first_day,
                last_day=last_day,
                forced_days=forced,
                info=info,
                traits=tuple(sorted(plan.traits)),
                trait_info={k: plan.info[k] for k in sorted(plan.info)},
            )
        )

    initial = tuple(e for e in lists.listed if e.address not in withheld)
    held = tuple(e for e in lists.listed if e.address in withheld)
    return Population(
        payers=b.payers,
        reviewers=b.reviewers,
        workers=tuple(workers),
        service_addresses=services,
        initial_listed=initial,
        withheld=held,
        delisting=delisting,
        delisted_at=delisted_at,
    )
