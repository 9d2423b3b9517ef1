"""Ground truth of a run (truth.json): who is bad, since when, and which alerts to expect.

Change times are event times: the first event through which a detector could
see the change (the new operator's first task, the first payout to a listed
wallet, the list entry or transfer that makes an earlier payout linked).
"""

from __future__ import annotations

from reputation.alerts import DRIFT_ALERT_TYPES, SANCTIONS_ALERT_TYPES
from sim.chain import ChainFacts
from sim.config import BAD_KINDS, SimConfig
from sim.entities import Population, Worker
from sim.geo import offset_at
from sim.platform import Payout, WorkerActivity
from sim.sanctions import ListedAddress
from sim.times import format_time

#: Alert types of CONTRACT.md in a fixed order (used to sort expected alerts).
ALERT_TYPES: tuple[str, ...] = DRIFT_ALERT_TYPES + SANCTIONS_ALERT_TYPES


def _time(ts: int | None) -> str | None:
    return None if ts is None else format_time(ts)


def _ring_change_times(pop: Population, payouts: list[Payout], facts: ChainFacts) -> dict[int, int]:
    """Return, per ring member, when its identity first shares money with another one."""
    members: dict[str, list[Worker]] = {}
    for w in pop.workers:
        if w.kind == "ring":
            members.setdefault(str(w.info["ring_id"]), []).append(w)
    ring_payouts = sorted(
        (p.paid_ts, p.worker) for p in payouts if pop.workers[p.worker].kind == "ring"
    )
    out: dict[int, int] = {}
    for ring in members.values():
        if ring[0].info["variant"] == "shared_wallet":
            indices = {w.index for w in ring}
            firsts: dict[int, int] = {}
            for paid_ts, worker in ring_payouts:
                if worker in indices:
                    firsts.setdefault(worker, paid_ts)
        else:
            wallet_of = {w.wallets[0][1]: w.index for w in ring}
            firsts = {}
            for ts, sender, _ in sorted(facts.forwards):
                if sender in wallet_of:
                    firsts.setdefault(wallet_of[sender], ts)
        if len(firsts) < 2:
            continue
        second = sorted(firsts.values())[1]
        for idx, first in firsts.items():
            out[idx] = max(first, second)
    return out


def build_truth(
    cfg: SimConfig,
    pop: Population,
    activity: list[WorkerActivity],
    payouts: list[Payout],
    facts: ChainFacts,
    invalid: dict[str, str],
    counts: dict[str, int],
) -> dict[str, object]:
    """Return the truth.json document of a run (see docs/simulator.md for the schema).

    Parameters
    ----------
    cfg, pop
        Run parameters and population.
    activity, payouts, facts
        What the platform and chain stages produced.
    invalid
        ``{event_id: reason}`` of deliberately invalid events.
    counts
        Number of events per topic.
    """
    paid: dict[int, list[Payout]] = {}
    for p in sorted(payouts, key=lambda p: (p.paid_ts, p.event_id)):
        paid.setdefault(p.worker, []).append(p)
    ring_change = _ring_change_times(pop, payouts, facts)
    ring_devices: dict[str, set[tuple[str, ...]]] = {}
    ring_first_tasks: dict[str, list[int]] = {}
    for w in pop.workers:
        if w.kind == "ring":
            ring_devices.setdefault(str(w.info["ring_id"]), set()).add(w.regimes[0].devices)
            first_task = activity[w.index].regime_first_ts[0]
            if first_task is not None:
                ring_first_tasks.setdefault(str(w.info["ring_id"]), []).append(first_task)

    workers: dict[str, object] = {}
    wallets: dict[str, dict[str, object]] = {}

    def wallet_entry(address: str, role: str) -> dict[str, object]:
        entry = wallets.setdefault(address, {"role": role, "workers": []})
        return entry

    for w in pop.workers:
        act = activity[w.index]
        my_payouts = paid.get(w.index, [])
        change: int | None = None
        expected: list[str] = []
        extra: dict[str, object] = dict(w.info)
        alert_times: dict[str, int] = {}
        if w.kind in ("takeover", "laptop_farm", "quality_decline", "traveller"):
            change = act.regime_first_ts[1] if len(act.regime_first_ts) > 1 else None
            if change is None and len(w.regimes) > 1:
                change = w.regimes[1].from_ts
            if w.kind == "takeover":
                expected = ["ACTIVITY_HOURS_SHIFT", "CONTEXT_SHIFT"]
                if w.info.get("wallet_changed"):
                    expected.append("PAYOUT_WALLET_CHANGE")
                if float(str(w.info.get("velocity_mult", 1.0))) >= 1.8:
                    expected.append("VELOCITY_SURGE")
            elif w.kind == "laptop_farm":
                expected = ["ACTIVITY_HOURS_SHIFT"]
                if float(str(w.info.get("velocity_mult", 1.0))) >= 1.8:
                    expected.append("VELOCITY_SURGE")
                if float(str(w.info.get("quality_shift", 0.0))) <= -0.1:
                    expected.append("QUALITY_SHIFT")
            elif w.kind == "quality_decline":
                expected = ["QUALITY_SHIFT"]
            else:
                extra["trip_end"] = _time(act.regime_first_ts[2]) if len(w.regimes) > 2 else None
        elif w.kind == "wallet_change_legit":
            new = w.wallets[-1][1]
            change = next((p.paid_ts for p in my_payouts if p.wallet == new), w.wallets[-1][0])
        elif w.kind == "ring":
            change = ring_change.get(w.index)
            expected = ["SHARED_WALLET"]
            if len(ring_devices[str(w.info["ring_id"])]) == 1:
                expected.append("SHARED_DEVICE")
                extra["shared_device"] = True
                # A shared device shows once two members have used it, before any money moves.
                firsts = sorted(ring_first_tasks.get(str(w.info["ring_id"]), []))
                mine = act.regime_first_ts[0]
                if len(firsts) >= 2 and mine is not None:
                    alert_times["SHARED_DEVICE"] = max(mine, firsts[1])
            else:
                extra["shared_device"] = False
        elif w.kind == "sanctioned_direct":
            change = my_payouts[0].paid_ts if my_payouts else None
            expected = ["SANCTIONED_PAYOUT"]
        elif w.kind == "sanctioned_linked":
            link_done = facts.change_ts.get(w.index, cfg.start_ts)
            change = next((p.paid_ts for p in my_payouts if p.paid_ts >= link_done), None)
            expected = ["SANCTIONED_LINKED_PAYOUT"]
        elif w.kind == "sanctioned_retroactive":
            change = facts.change_ts.get(w.index)
            expected = ["RETROACTIVE_MATCH"]
            if change is not None and any(p.paid_ts >= change for p in my_payouts):
                direct = w.info["variant"] == "later_listing_direct"
                expected.append("SANCTIONED_PAYOUT" if direct else "SANCTIONED_LINKED_PAYOUT")
            extra["paid_before_change"] = sum(
                1 for p in my_payouts if change and p.paid_ts < change
            )
        if w.index in facts.paths:
            extra["path"] = facts.paths[w.index]
        if w.kind == "takeover" and len(w.regimes) > 1:
            # Offsets in force at the change (the regimes hold standard offsets).
            at = change if change is not None else w.regimes[1].from_ts
            old, new_r = w.regimes[0], w.regimes[1]
            extra["old_offset_min"] = offset_at(old.dst, old.offset_min, at)
            extra["new_offset_min"] = offset_at(new_r.dst, new_r.offset_min, at)
        record: dict[str, object] = {
            "kind": w.kind,
            "bad": w.kind in BAD_KINDS,
            "traits": list(w.traits),
            "trait_info": w.trait_info,
            "change_time": _time(change),
            "expected_alerts": [a for a in ALERT_TYPES if a in expected],
            # Per expected type, the first time it can be seen (change_time unless noted).
            "expected_alert_times": {
                a: _time(alert_times.get(a, change) if change is not None else alert_times.get(a))
                for a in ALERT_TYPES
                if a in expected
            },
            "wallet": w.wallets[0][1],
            "wallets": [a for _, a in w.wallets],
            "country": w.regimes[0].country,
            "utc_offset_min": offset_at(w.regimes[0].dst, w.regimes[0].offset_min, cfg.start_ts),
            "payouts": len(my_payouts),
            "active_days": len(act.active_days),
        }
        record.update({k: v for k, v in sorted(extra.items()) if k not in record})
        workers[w.worker_id] = record
        for _, address in w.wallets:
            entry = wallet_entry(address, "payout")
            entry_workers = entry["workers"]
            if isinstance(entry_workers, list) and w.worker_id not in entry_workers:
                entry_workers.append(w.worker_id)
        consolidation = w.info.get("consolidation")
        if isinstance(consolidation, str):
            entry = wallet_entry(consolidation, "consolidation")
            entry["ring_id"] = w.info["ring_id"]
            entry_workers = entry["workers"]
            if isinstance(entry_workers, list):
                entry_workers.append(w.worker_id)
        for address in facts.paths.get(w.index, []):
            if facts.roles.get(address) == "intermediary":
                entry = wallet_entry(address, "intermediary")
                entry_workers = entry["workers"]
                if isinstance(entry_workers, list):
                    entry_workers.append(w.worker_id)
        if w.kind == "ring" and w.info["variant"] == "shared_wallet":
            wallets[w.wallets[0][1]]["ring_id"] = w.info["ring_id"]

    for address, role in sorted(facts.roles.items()):
        if role == "deposit" and address not in wallets:
            wallets[address] = {"role": "deposit", "workers": []}
    for payer in pop.payers:
        wallets[payer.treasury] = {"role": "treasury", "payer_id": payer.payer_id, "workers": []}
    for name, address in pop.service_addresses.items():
        wallets[address] = {"role": "service", "name": name, "workers": []}
    for address, role in sorted(facts.roles.items()):
        if role == "listed_mule" and address not in wallets:
            wallets[address] = {"role": "listed_mule", "workers": []}

    listed: dict[str, object] = {}

    def add_listed(entry: ListedAddress, listed_at: int, in_run: bool) -> None:
        users = sorted(
            (w.worker_id for w in pop.workers if w.info.get("listed_address") == entry.address),
            key=lambda s: int(s[2:]),
        )
        listed[entry.address] = {
            "program": entry.program,
            "entity": entry.entity,
            "listed_at": format_time(listed_at),
            "listed_in_run": in_run,
            "delisted_at": None,
            "workers": users,
        }

    for item in pop.initial_listed:
        if item.listed_at < cfg.end_ts:
            add_listed(item, item.listed_at, item.listed_at > cfg.start_ts)
    for item in pop.withheld:
        if item.address in facts.listings:
            add_listed(item, facts.listings[item.address], True)
    if pop.delisting is not None:
        add_listed(pop.delisting, pop.delisting.listed_at, False)
        record_d = listed[pop.delisting.address]
        if isinstance(record_d, dict):
            record_d["delisted_at"] = format_time(pop.delisted_at)

    return {
        "schema": 2,
        "seed": cfg.seed,
        "parameters": cfg.to_record(),
        "start": format_time(cfg.start_ts),
        "end": format_time(cfg.end_ts),
        "counts": dict(sorted(counts.items())),
        "workers": workers,
        "wallets": dict(sorted(wallets.items())),
        # For evaluation only: an engine configured from these has been told the answer.
        "service_addresses": dict(sorted(pop.service_addresses.items())),
        "listed_addresses": dict(sorted(listed.items())),
        "invalid_event_ids": sorted(invalid),
        "invalid_reasons": dict(sorted(invalid.items())),
    }
