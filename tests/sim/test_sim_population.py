"""Ground truth matches the generated events: kinds, takeovers, rings, sanctions paths."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from sim.config import KINDS, SimConfig, SimulationError
from sim.generate import Simulation
from sim.output import load_sanctions_lists
from tests.sim.checks import TransferGraph, ts

DAY = 86_400


def _workers(run: Simulation) -> dict[str, dict[str, Any]]:
    return run.truth["workers"]  # type: ignore[return-value]


def _of_kind(run: Simulation, kind: str) -> dict[str, dict[str, Any]]:
    return {w: r for w, r in _workers(run).items() if r["kind"] == kind}


def _by_topic(run: Simulation, topic: str) -> list[dict[str, Any]]:
    return [e.payload for e in run.events if e.topic == topic]  # type: ignore[misc]


def _tasks_by_worker(run: Simulation) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in _by_topic(run, "tasks"):
        out[t["worker_id"]].append(t)
    return out


def _circ_mean(hours: list[float]) -> float:
    s = sum(math.sin(h / 24 * 2 * math.pi) for h in hours)
    c = sum(math.cos(h / 24 * 2 * math.pi) for h in hours)
    return (math.atan2(s, c) / (2 * math.pi) * 24) % 24


def _circ_dist(a: float, b: float) -> float:
    d = abs(a - b) % 24
    return min(d, 24 - d)


def _session_starts(tasks: list[dict[str, Any]], lo: int, hi: int) -> list[float]:
    """UTC hour of the first task of each active day (hours counted once per day)."""
    first: dict[int, int] = {}
    for t in tasks:
        at = ts(t["assigned_at"])
        if lo <= at < hi:
            day = at // DAY
            first[day] = min(first.get(day, at), at)
    return [(v % DAY) / 3600 for v in first.values()]


def _hour_profile(tasks: list[dict[str, Any]]) -> np.ndarray:
    """Normalised UTC hour histogram, each hour counted once per active day."""
    h = np.zeros(24)
    for _day, hour in {
        (ts(t["completed_at"]) // DAY, ts(t["completed_at"]) % DAY // 3600) for t in tasks
    }:
        h[hour] += 1
    return h / h.sum()


def _listed_at_end(run: Simulation) -> set[str]:
    state: dict[str, bool] = {}
    for e in run.events:
        if e.topic == "sanctions":
            state[str(e.payload["address"])] = not e.payload["delisted"]
    return {a for a, on in state.items() if on}


def test_population_sizes(run: Simulation) -> None:
    params = run.truth["parameters"]
    counts = Counter(r["kind"] for r in _workers(run).values())
    assert counts == Counter({k: n for k, n in params["sizes"].items() if n})  # type: ignore[index]
    assert set(counts) == set(KINDS)
    assert len(_workers(run)) == 240


def test_requested_sizes_are_honoured(make_run: Callable[..., Simulation]) -> None:
    sizes = {"takeover": 7, "ring": 8, "sanctioned_direct": 1, "decoy": 0, "traveller": 4}
    run = make_run(seed=2, workers=60, days=35, sizes=sizes)
    counts = Counter(r["kind"] for r in _workers(run).values())
    for kind, n in sizes.items():
        assert counts[kind] == n
    assert sum(counts.values()) == 60


def test_impossible_sizes_are_rejected() -> None:
    with pytest.raises(SimulationError, match="sizes"):
        SimConfig(seed=1, workers=10, days=30, sizes={"takeover": 11})
    with pytest.raises(SimulationError, match="ring"):
        SimConfig(seed=1, workers=10, days=30, sizes={"ring": 1})


def test_bad_flags_follow_kinds(run: Simulation) -> None:
    bad = {
        "takeover",
        "laptop_farm",
        "ring",
        "sanctioned_direct",
        "sanctioned_linked",
        "sanctioned_retroactive",
        "quality_decline",
    }
    for record in _workers(run).values():
        assert record["bad"] == (record["kind"] in bad)
        if record["bad"]:
            assert record["expected_alerts"], record
            assert record["change_time"] is not None, record
        else:
            assert record["expected_alerts"] == []


def test_takeover_hours_shift_8_to_14h_with_new_context(run: Simulation) -> None:
    tasks = _tasks_by_worker(run)
    takeovers = _of_kind(run, "takeover")
    assert takeovers
    for wid, rec in takeovers.items():
        shift = abs(rec["hour_shift_h"])
        assert 8.0 <= shift <= 14.0
        change = ts(rec["change_time"])
        before = _session_starts(tasks[wid], 0, change)
        after = _session_starts(tasks[wid], change, 2**40)
        assert len(before) >= 10 and len(after) >= 2, wid
        measured = _circ_dist(_circ_mean(before), _circ_mean(after))
        expected = min(shift, 24 - shift)
        assert abs(measured - expected) < 3.0, (wid, measured, expected)
        # A new operator: device and network never seen before the change.
        ctx_before = [
            t["context"] for t in tasks[wid] if "context" in t and ts(t["completed_at"]) < change
        ]
        ctx_after = [
            t["context"] for t in tasks[wid] if "context" in t and ts(t["completed_at"]) >= change
        ]
        devices_before = {c.get("device_id") for c in ctx_before} - {None}
        devices_after = {c.get("device_id") for c in ctx_after} - {None}
        assert devices_after and not devices_after & devices_before
        assert not {c["ip_asn"] for c in ctx_after} & {c["ip_asn"] for c in ctx_before}
        # A month of history before the change (half the run when the run is shorter);
        # the new operator's first local day may begin up to 14 h before UTC midnight.
        days = run.truth["parameters"]["days"]  # type: ignore[index]
        assert change - ts(str(run.truth["start"])) >= min(30, days // 2) * DAY - 14 * 3600


def test_honest_hours_are_stable_and_realistic(run: Simulation) -> None:
    tasks = _tasks_by_worker(run)
    jsd, multi_asn, accepted, new_place = [], 0, [], 0
    honest = [w for w, r in _workers(run).items() if r["kind"] == "honest" and len(tasks[w]) >= 20]
    for wid in honest:
        ev = sorted(tasks[wid], key=lambda t: t["completed_at"])
        half = len(ev) // 2
        hists = []
        for part in (ev[:half], ev[half:]):
            days_hours = {
                (ts(t["completed_at"]) // DAY, (ts(t["completed_at"]) % DAY) // 3600) for t in part
            }
            h = np.zeros(24)
            for _, hour in days_hours:
                h[hour] += 1
            hists.append(h / h.sum())
        p, q = hists
        m = (p + q) / 2
        jsd.append(
            0.5 * sum(p[p > 0] * np.log2(p[p > 0] / m[p > 0]))
            + 0.5 * sum(q[q > 0] * np.log2(q[q > 0] / m[q > 0]))
        )
        multi_asn += len({t["context"]["ip_asn"] for t in ev if "context" in t}) > 1
        accepted.append(sum(t["outcome"] == "accepted" for t in ev) / len(ev))
        places = {
            (t["context"]["country"], t["context"]["utc_offset_min"]) for t in ev if "context" in t
        }
        new_place += len(places) > 1
    assert len(honest) > 100
    assert 0.03 < float(np.median(jsd)) < 0.13
    assert 0.35 < multi_asn / len(honest) < 0.65
    assert 0.84 < float(np.median(accepted)) < 0.93
    assert 0.01 <= new_place / len(honest) <= 0.10  # real crowd workers: about 4 %


def test_ring_wallets_converge_and_hours_overlap(run: Simulation) -> None:
    rings: dict[str, list[str]] = defaultdict(list)
    for wid, rec in _of_kind(run, "ring").items():
        rings[rec["ring_id"]].append(wid)
    assert rings and all(len(m) >= 2 for m in rings.values())
    payouts = _by_topic(run, "payouts")
    transfers = _by_topic(run, "transfers")
    tasks = _tasks_by_worker(run)
    for members in rings.values():
        records = [_workers(run)[w] for w in members]
        wallets_paid = {p["wallet"].lower() for p in payouts if p["worker_id"] in members}
        if records[0]["variant"] == "shared_wallet":
            assert len(wallets_paid) == 1
        else:
            target = records[0]["consolidation"]
            assert len(wallets_paid) == len(members)
            for wallet in wallets_paid:
                received = sum(
                    int(t["amount"])
                    for t in transfers
                    if t["to"].lower() == wallet and t["decimals"] == 6
                )
                forwarded = sum(
                    int(t["amount"])
                    for t in transfers
                    if t["from"].lower() == wallet
                    and t["to"].lower() == target
                    and t["decimals"] == 6
                )
                if received:
                    assert forwarded >= 0.6 * received
        # One operator: hour-of-day profiles overlap (honest pairs: median overlap ~0.2).
        profiles = [_hour_profile(tasks[w]) for w in members]
        for i, a in enumerate(profiles):
            for b in profiles[i + 1 :]:
                assert float(np.minimum(a, b).sum()) >= 0.5


def test_sanctioned_direct_paid_to_listed_addresses(run: Simulation) -> None:
    listed: dict[str, int] = {}
    direct = _of_kind(run, "sanctioned_direct")
    assert direct
    paid = 0
    for e in run.events:
        if e.topic == "sanctions" and not e.payload["delisted"]:
            listed.setdefault(str(e.payload["address"]), e.ts)
        elif e.topic == "payouts" and e.payload["worker_id"] in direct:
            wallet = str(e.payload["wallet"]).lower()
            assert wallet == direct[str(e.payload["worker_id"])]["listed_address"]
            assert wallet in listed and listed[wallet] <= e.ts
            paid += 1
    assert paid >= len(direct)
    assert all(rec["listed_address"] in load_listed() for rec in direct.values())


def load_listed() -> set[str]:
    return {e.address for e in load_sanctions_lists().listed}


def test_linked_wallets_are_exactly_their_hops_away(run: Simulation) -> None:
    graph = TransferGraph(_by_topic(run, "transfers"))
    services = set(run.truth["service_addresses"].values())  # type: ignore[union-attr]
    listed = _listed_at_end(run)
    linked = {**_of_kind(run, "sanctioned_linked"), **_of_kind(run, "sanctioned_retroactive")}
    assert {r["hops"] for r in linked.values()} >= {1, 2}
    for wid, rec in linked.items():
        forward, backward = graph.hops(listed, rec["wallet"], services)
        got = forward if rec.get("direction", "in") == "in" else backward
        assert got == rec["hops"], (wid, rec["variant"], forward, backward)


def test_linked_payouts_happen_after_the_link(run: Simulation) -> None:
    transfers = _by_topic(run, "transfers")
    for wid, rec in _of_kind(run, "sanctioned_linked").items():
        path = rec["path"]
        edges = set(zip(path, path[1:], strict=False))
        link_times = [
            ts(t["block_time"]) for t in transfers if (t["from"].lower(), t["to"].lower()) in edges
        ]
        assert len(link_times) == len(edges)
        assert max(link_times) <= ts(rec["change_time"]), wid


def test_retroactive_cases_are_paid_before_they_become_linked(run: Simulation) -> None:
    retro = _of_kind(run, "sanctioned_retroactive")
    assert {r["variant"] for r in retro.values()} == {
        "later_transfer",
        "later_listing_direct",
        "later_listing_linked",
    }
    first_paid: dict[str, int] = {}
    listed_when: dict[str, int] = {}
    for e in run.events:
        if e.topic == "payouts":
            first_paid.setdefault(str(e.payload["worker_id"]), e.ts)
        elif e.topic == "sanctions":
            listed_when.setdefault(str(e.payload["address"]), e.ts)
    start = ts(str(run.truth["start"]))
    for wid, rec in retro.items():
        change = ts(rec["change_time"])
        assert first_paid[wid] < change, wid
        assert rec["paid_before_change"] >= 1
        if rec["variant"].startswith("later_listing"):
            assert listed_when[rec["listed_address"]] == change > start
            assert run.truth["listed_addresses"][rec["listed_address"]]["listed_in_run"]  # type: ignore[index]


def test_decoys_are_three_hops_away_or_behind_a_service(run: Simulation) -> None:
    graph = TransferGraph(_by_topic(run, "transfers"))
    services = set(run.truth["service_addresses"].values())  # type: ignore[union-attr]
    listed = _listed_at_end(run)
    decoys = _of_kind(run, "decoy")
    assert {"three_hops_in", "via_service_in", "after_delisting"} <= {
        r["variant"] for r in decoys.values()
    }
    for wid, rec in decoys.items():
        forward, backward = graph.hops(listed, rec["wallet"], services)
        assert forward is None or forward >= 3, wid
        assert backward is None or backward >= 3, wid
        if rec["variant"].startswith("via_service"):
            through = graph.hops(listed, rec["wallet"], set())
            assert 2 in through, (wid, through)
            assert rec["service"] in services


def test_delisting_is_listed_first_and_decoy_funded_only_after(run: Simulation) -> None:
    delisted = [e for e in run.events if e.topic == "sanctions" and e.payload["delisted"]]
    assert len(delisted) == 1
    address = str(delisted[0].payload["address"])
    assert address in {e.address for e in load_sanctions_lists().delisted}
    listed_first = [
        e
        for e in run.events
        if e.topic == "sanctions" and e.payload["address"] == address and not e.payload["delisted"]
    ]
    assert listed_first and listed_first[0].ts < delisted[0].ts
    for rec in _of_kind(run, "decoy").values():
        if rec["variant"] == "after_delisting":
            funding = [
                e
                for e in run.events
                if e.topic == "transfers" and str(e.payload["from"]).lower() == address
            ]
            assert funding and all(e.ts > delisted[0].ts for e in funding)


def test_good_workers_are_never_within_two_hops(run: Simulation) -> None:
    graph = TransferGraph(_by_topic(run, "transfers"))
    services = set(run.truth["service_addresses"].values())  # type: ignore[union-attr]
    listed = _listed_at_end(run)
    for wid, rec in _workers(run).items():
        if rec["bad"]:
            continue
        for wallet in rec["wallets"]:
            forward, backward = graph.hops(listed, wallet, services)
            assert forward is None or forward >= 3, (wid, rec["kind"])
            assert backward is None or backward >= 3, (wid, rec["kind"])


def test_sanctions_list_emitted_once_per_address_at_start(run: Simulation) -> None:
    start = ts(str(run.truth["start"]))
    at_start = [e for e in run.events if e.topic == "sanctions" and e.ts == start]
    addresses = [str(e.payload["address"]) for e in at_start]
    assert len(addresses) == len(set(addresses)) >= 100
    for e in at_start:
        assert set(e.payload) >= {"address", "program", "entity", "listed_at", "source", "delisted"}
        assert e.payload["source"] == "OFAC SDN"


def test_travellers_come_back_and_wallet_changes_are_linked(run: Simulation) -> None:
    tasks = _tasks_by_worker(run)
    for wid, rec in _of_kind(run, "traveller").items():
        ordered = sorted(tasks[wid], key=lambda t: t["completed_at"])
        countries = [t["context"]["country"] for t in ordered if "context" in t]
        assert rec["trip_country"] in countries, wid
        assert countries[0] == rec["country"]
        if rec["trip_end"] is not None:
            assert countries[-1] == rec["country"], wid
    transfers = _by_topic(run, "transfers")
    for rec in _of_kind(run, "wallet_change_legit").values():
        old, new = rec["old_wallet"], rec["new_wallet"]
        moved = any(t["from"].lower() == old and t["to"].lower() == new for t in transfers)
        assert moved or not any(t["to"].lower() == old for t in transfers)


def test_truth_lists_wallets_and_services(run: Simulation) -> None:
    wallets = run.truth["wallets"]
    assert isinstance(wallets, dict)
    for wid, rec in _workers(run).items():
        for w in rec["wallets"]:
            assert wid in wallets[w]["workers"]
    for address in run.truth["service_addresses"].values():  # type: ignore[union-attr]
        assert wallets[address]["role"] == "service"
    for rec in _of_kind(run, "ring").values():
        if rec["variant"] == "consolidation":
            assert wallets[rec["consolidation"]]["role"] == "consolidation"
