"""Randomised parameters, honest traits, the laptop-farm kind and the service hubs.

Each check reads the events as a detector would (tasks' context, UTC times,
transfers) and compares them with truth.json; the real DST dates are computed
here from the calendar, not with the simulator's code.
"""

from __future__ import annotations

import calendar
import math
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from statistics import median
from typing import Any

import pytest

from sim.config import BAD_KINDS, SimConfig
from sim.generate import Simulation
from sim.params import RANGES, TRAITS
from sim.times import parse_time
from tests.sim.checks import TransferGraph, ts

DAY = 86_400
#: Runs over the autumn DST switches of Europe (25 Oct 2026) and the US (1 Nov 2026).
AUTUMN = {"seed": 21, "workers": 300, "days": 50, "start": parse_time("2026-10-01T00:00:00Z")}


@pytest.fixture(scope="module")
def autumn(make_run: Callable[..., Simulation]) -> Simulation:
    return make_run(**AUTUMN)


def _workers(run: Simulation) -> dict[str, dict[str, Any]]:
    return run.truth["workers"]  # type: ignore[return-value]


def _tasks(run: Simulation) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in run.events:
        if e.topic == "tasks":
            out[str(e.payload["worker_id"])].append(e.payload)  # type: ignore[arg-type]
    for tasks in out.values():
        tasks.sort(key=lambda t: t["completed_at"])
    return out


def _with(run: Simulation, trait: str, without: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        w: r
        for w, r in _workers(run).items()
        if trait in r["traits"] and not set(without) & set(r["traits"]) and not r["bad"]
    }


def _circ_mean(hours: list[float]) -> float:
    s = sum(math.sin(h / 24 * 2 * math.pi) for h in hours)
    c = sum(math.cos(h / 24 * 2 * math.pi) for h in hours)
    return (math.atan2(s, c) / (2 * math.pi) * 24) % 24


def _signed(a: float, b: float) -> float:
    """b - a on the 24 h circle, in (-12, 12]."""
    d = (b - a) % 24
    return d - 24 if d > 12 else d


def _first_starts(tasks: list[dict[str, Any]], lo: int, hi: int, local: bool) -> list[float]:
    """Hour of the first task of each UTC day in [lo, hi): UTC, or local via the context."""
    first: dict[int, dict[str, Any]] = {}
    for t in tasks:
        at = ts(t["assigned_at"])
        if lo <= at < hi and (at // DAY not in first or at < ts(first[at // DAY]["assigned_at"])):
            first[at // DAY] = t
    out = []
    for t in first.values():
        at = ts(t["assigned_at"])
        shift = t["context"]["utc_offset_min"] * 60 if local and "context" in t else 0
        out.append(((at + shift) % DAY) / 3600)
    return out


# --- parameters ----------------------------------------------------------------------


def test_parameters_are_drawn_per_seed_and_recorded(make_run: Callable[..., Simulation]) -> None:
    a = make_run(seed=5, workers=80, days=20, invalid_rate=0.003)
    b = make_run(seed=6, workers=80, days=20, invalid_rate=0.003)
    pa = a.truth["parameters"]["population"]  # type: ignore[index]
    pb = b.truth["parameters"]["population"]  # type: ignore[index]
    assert pa["randomised"] is True
    assert set(pa["values"]) == set(RANGES)
    differ = [k for k in RANGES if pa["values"][k] != pb["values"][k]]
    assert len(differ) >= len(RANGES) // 2, differ
    for name, (lo, hi) in RANGES.items():
        assert lo - 1e-4 <= pa["values"][name] <= hi + 1e-4, name
    assert (
        SimConfig(seed=5, workers=80, days=20).params
        == SimConfig(seed=5, workers=80, days=20).params
    )


def test_kind_shares_vary_between_seeds() -> None:
    sizes = [SimConfig(seed=s, workers=2000, days=30).sizes for s in range(1, 6)]
    assert len({tuple(sorted(x.items())) for x in sizes}) == 5
    takeovers = [x["takeover"] for x in sizes]
    assert max(takeovers) >= 1.3 * min(takeovers)


def test_fixed_params_are_the_centres() -> None:
    cfg = SimConfig(seed=9, workers=50, days=10, randomise=False)
    for name, (lo, hi) in RANGES.items():
        assert cfg.params.values[name] == pytest.approx((lo + hi) / 2, abs=0.51), name
    assert cfg.params.to_record()["randomised"] is False


def test_randomised_platforms_differ_in_the_events(make_run: Callable[..., Simulation]) -> None:
    """Sessions, quality noise and activity differ between seeds, not only the recorded numbers."""
    stats = []
    for seed in (31, 32, 33, 34):
        run = make_run(seed=seed, workers=100, days=20)
        tasks = sum(e.topic == "tasks" for e in run.events)
        scores = [float(e.payload["score"]) for e in run.events if e.topic == "quality"]  # type: ignore[arg-type]
        mean = sum(scores) / len(scores)
        sd = math.sqrt(sum((x - mean) ** 2 for x in scores) / len(scores))
        stats.append((tasks, sd))
    assert max(s[0] for s in stats) >= 1.3 * min(s[0] for s in stats)


# --- traits --------------------------------------------------------------------------


def test_traits_are_labelled_and_every_one_is_present(autumn: Simulation, run: Simulation) -> None:
    seen: set[str] = set()
    for r in (*_workers(autumn).values(), *_workers(run).values()):
        assert r["traits"] == sorted(set(r["traits"]))
        assert set(r["traits"]) <= set(TRAITS)
        assert set(r["trait_info"]) == set(r["traits"])
        if r["bad"]:  # a bad worker's own habits are only these
            assert set(r["traits"]) <= {"dst", "exchange_user", "dex_user"}, r
        seen |= set(r["traits"])
    assert seen == set(TRAITS)


def _real_dst_switch(country: str, year: int) -> int:
    """The autumn switch of 2026 from the calendar: EU last Sunday of Oct 01:00 UTC,
    US first Sunday of Nov 02:00 daylight time."""
    if country in ("GB", "DE"):
        last = max(d for d in range(1, 32) if calendar.weekday(year, 10, d) == calendar.SUNDAY)
        return int(datetime(year, 10, last, 1, tzinfo=UTC).timestamp())
    raise KeyError(country)


def test_dst_offsets_move_on_the_real_date_local_hours_stay(autumn: Simulation) -> None:
    tasks = _tasks(autumn)
    dst = _with(autumn, "dst", without=("traveller", "hours_drift", "vpn"))
    assert len(dst) >= 5
    utc_moves, local_moves, checked = [], [], 0
    for wid, rec in dst.items():
        switches = rec["trait_info"]["dst"]["switches"]
        assert switches
        for sw in switches:
            at = ts(sw["at"])
            assert abs(sw["to"] - sw["from"]) == 60
            if sw["country"] in ("GB", "DE"):
                assert at == _real_dst_switch(sw["country"], 2026), (wid, sw)
            if sw["country"] == "US":  # first Sunday of November, 02:00 local daylight time
                local = datetime.fromtimestamp(at + sw["from"] * 60, UTC)
                assert (local.month, local.day, local.hour) == (11, 1, 2), (wid, sw)
            ctx = [t["context"] for t in tasks[wid] if "context" in t]
            before = {
                c["utc_offset_min"]
                for t, c in zip(tasks[wid], ctx, strict=False)
                if ts(t["completed_at"]) < at
            }
            after = {
                t["context"]["utc_offset_min"]
                for t in tasks[wid]
                if "context" in t and ts(t["assigned_at"]) >= at
            }
            if before and after:
                assert after == {sw["to"]}, (wid, sw, after)
                checked += 1
            b_utc = _first_starts(tasks[wid], 0, at, local=False)
            a_utc = _first_starts(tasks[wid], at, 2**40, local=False)
            if len(b_utc) >= 5 and len(a_utc) >= 5:
                utc_moves.append(_signed(_circ_mean(b_utc), _circ_mean(a_utc)))
                b_loc = _first_starts(tasks[wid], 0, at, local=True)
                a_loc = _first_starts(tasks[wid], at, 2**40, local=True)
                local_moves.append(_signed(_circ_mean(b_loc), _circ_mean(a_loc)))
    assert checked >= 3
    # Autumn: clocks go back one hour, so the same local hours come one hour later in UTC.
    assert len(utc_moves) >= 3
    assert 0.5 <= median(utc_moves) <= 1.5, utc_moves
    assert abs(median(local_moves)) <= 0.5, local_moves


def test_travellers_keep_device_and_local_hours(autumn: Simulation, run: Simulation) -> None:
    checked = 0
    for sim in (autumn, run):
        tasks = _tasks(sim)
        for wid, rec in _with(sim, "traveller", without=("vpn",)).items():
            home = [
                t
                for t in tasks[wid]
                if "context" in t and t["context"]["country"] == rec["country"]
            ]
            home_devices = {t["context"].get("device_id") for t in home} - {None}
            home_asns = {t["context"]["ip_asn"] for t in home}
            for trip in rec["trait_info"]["traveller"]["trips"]:
                assert 2 <= trip["days"] <= 7
                lo, hi = ts(trip["start"]), ts(trip["end"])
                assert (hi - lo) == trip["days"] * DAY
                during = [
                    t
                    for t in tasks[wid]
                    if "context" in t and lo + DAY // 2 <= ts(t["assigned_at"]) < hi - DAY // 2
                ]
                for t in during:
                    c = t["context"]
                    assert c["country"] == trip["country"] != rec["country"]
                    assert c["ip_asn"] not in home_asns
                    assert c["utc_offset_min"] == trip["offset_min"]
                    if c.get("device_id") is not None:
                        assert c["device_id"] in home_devices
                checked += bool(during)
    assert checked >= 5


def test_new_laptop_and_new_isp(autumn: Simulation) -> None:
    tasks = _tasks(autumn)
    laptops = _with(autumn, "new_laptop", without=("vpn",))
    isps = _with(autumn, "new_isp", without=("vpn",))
    assert laptops and isps
    for wid, rec in laptops.items():
        info = rec["trait_info"]["new_laptop"]
        at = ts(info["at"])
        ctx = [(ts(t["assigned_at"]), t["context"]) for t in tasks[wid] if "context" in t]
        before = [c for t, c in ctx if t < at - DAY]
        after = [c for t, c in ctx if t >= at + DAY]
        assert all(c.get("device_id") in (None, info["device_id"]) for c in after)
        assert all(c.get("device_id") != info["device_id"] for c in before)
        assert {c["ip_asn"] for c in after} <= {c["ip_asn"] for c in before} or not before
    for wid, rec in isps.items():
        info = rec["trait_info"]["new_isp"]
        at = ts(info["at"])
        ctx = [(ts(t["assigned_at"]), t["context"]) for t in tasks[wid] if "context" in t]
        before = [c for t, c in ctx if t < at - DAY]
        after = [c for t, c in ctx if t >= at + DAY]
        assert all(c["ip_asn"] == info["asn"] for c in after)
        assert all(c["ip_asn"] != info["asn"] for c in before)
        dev_before = {c.get("device_id") for c in before} - {None}
        dev_after = {c.get("device_id") for c in after} - {None}
        assert dev_after <= dev_before or not dev_before


def test_vpn_sessions_change_network_and_country_not_clock(autumn: Simulation) -> None:
    from sim.geo import VPN_EXITS

    tasks = _tasks(autumn)
    vpn = _with(autumn, "vpn", without=("traveller", "dst"))
    assert vpn
    exits = {asn for asn, _ in VPN_EXITS}
    with_exit = 0
    for wid, rec in vpn.items():
        ctx = [t["context"] for t in tasks[wid] if "context" in t]
        assert len({c["utc_offset_min"] for c in ctx}) == 1
        via = [c for c in ctx if c["ip_asn"] in exits]
        with_exit += bool(via) and any(c["country"] == rec["country"] for c in ctx)
    assert with_exit >= len(vpn) // 2


def test_hours_drift_moves_local_hours_gradually(autumn: Simulation) -> None:
    tasks = _tasks(autumn)
    moved = []
    for wid, rec in _with(autumn, "hours_drift", without=("traveller", "dst", "vpn")).items():
        info = rec["trait_info"]["hours_drift"]
        assert 1.5 <= abs(info["shift_h"]) <= 4.0
        start = ts(info["start"])
        done = start + int(info["ramp_days"] * DAY)
        before = _first_starts(tasks[wid], 0, start, local=True)
        after = _first_starts(tasks[wid], done, 2**40, local=True)
        if len(before) >= 4 and len(after) >= 4:
            moved.append(_signed(_circ_mean(before), _circ_mean(after)) / info["shift_h"])
    assert moved
    assert median(moved) > 0.4, moved


# --- bad kinds -----------------------------------------------------------------------


def test_laptop_farm_keeps_context_and_shifts_hours(autumn: Simulation, run: Simulation) -> None:
    checked = 0
    for sim in (autumn, run):
        tasks = _tasks(sim)
        for wid, rec in _workers(sim).items():
            if rec["kind"] != "laptop_farm":
                continue
            assert rec["bad"] and "ACTIVITY_HOURS_SHIFT" in rec["expected_alerts"]
            assert 8.0 <= abs(rec["hour_shift_h"]) <= 14.0
            change = ts(rec["change_time"])
            before = [t for t in tasks[wid] if ts(t["completed_at"]) < change]
            after = [t for t in tasks[wid] if ts(t["completed_at"]) >= change]
            cb = [t["context"] for t in before if "context" in t]
            ca = [t["context"] for t in after if "context" in t]
            # The owner's own laptop, network, country and clock.
            assert {c.get("device_id") for c in ca} - {None} <= {c.get("device_id") for c in cb}
            assert {c["ip_asn"] for c in ca} <= {c["ip_asn"] for c in cb}
            assert {c["country"] for c in ca} == {c["country"] for c in cb}
            offsets_before = {c["utc_offset_min"] for c in cb}
            if "dst" not in rec["traits"]:
                assert {c["utc_offset_min"] for c in ca} == offsets_before
            # ... at hours 8-14 h away, in UTC.
            b = _first_starts(before, 0, change, local=False)
            a = _first_starts(after, change, 2**40, local=False)
            if len(b) >= 5 and len(a) >= 3:
                measured = abs(_signed(_circ_mean(b), _circ_mean(a)))
                expected = min(abs(rec["hour_shift_h"]), 24 - abs(rec["hour_shift_h"]))
                assert abs(measured - expected) < 3.0, (wid, measured, expected)
                checked += 1
            # ... with the operator's own pace: more tasks per active day.
            days_b = {ts(t["completed_at"]) // DAY for t in before}
            days_a = {ts(t["completed_at"]) // DAY for t in after}
            if days_b and days_a:
                assert len(after) / len(days_a) > len(before) / len(days_b), wid
    assert checked >= 3


def test_quality_decline_ramps_down(autumn: Simulation) -> None:
    scores: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for e in autumn.events:
        if e.topic == "quality":
            scores[str(e.payload["worker_id"])].append((e.ts, float(e.payload["score"])))  # type: ignore[arg-type]
    checked = 0
    for wid, rec in _workers(autumn).items():
        if rec["kind"] != "quality_decline":
            continue
        assert 0.20 <= rec["decline"] <= 0.35 and 14 <= rec["decline_days"] <= 28
        change = ts(rec["change_time"])
        end = change + int(rec["decline_days"] * DAY)
        before = [s for t, s in scores[wid] if t < change]
        after = [s for t, s in scores[wid] if t >= end]
        if len(before) >= 10 and len(after) >= 5:
            assert median(before) - median(after) >= 0.12, wid
            checked += 1
    assert checked >= 1


def test_bad_kinds_have_change_time_and_expected_alerts(autumn: Simulation) -> None:
    for rec in _workers(autumn).values():
        assert rec["bad"] == (rec["kind"] in BAD_KINDS)
        if rec["bad"]:
            assert rec["change_time"] and rec["expected_alerts"]


# --- chain: hubs ---------------------------------------------------------------------


def _transfers(run: Simulation) -> list[dict[str, Any]]:
    return [e.payload for e in run.events if e.topic == "transfers"]  # type: ignore[misc]


def test_exchange_users_deposit_through_a_personal_address_to_a_busy_hot_wallet(
    run: Simulation,
) -> None:
    transfers = _transfers(run)
    services: dict[str, str] = run.truth["service_addresses"]  # type: ignore[assignment]
    out: dict[str, set[str]] = defaultdict(set)
    into: dict[str, set[str]] = defaultdict(set)
    for t in transfers:
        a, b = t["from"].lower(), t["to"].lower()
        out[a].add(b)
        into[b].add(a)
    checked = 0
    for rec in _workers(run).values():
        info = rec["trait_info"].get("exchange_user")
        if not info or not info["via_deposit_address"] or rec["kind"] != "honest":
            continue
        hot = services[info["exchange"]]
        deposits = [d for d in out[rec["wallet"]] if hot in out[d]]
        if not deposits:
            continue  # nothing swept yet (a short history)
        deposit = deposits[0]
        assert deposit not in services.values()
        assert into[deposit] <= {rec["wallet"]}, "a personal deposit address"
        assert len(out[hot] | into[hot]) >= 100
        checked += 1
    assert checked >= 10


def test_dex_users_swap_through_router_and_pool(run: Simulation) -> None:
    services: dict[str, str] = run.truth["service_addresses"]  # type: ignore[assignment]
    by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in _transfers(run):
        by_tx[t["tx_hash"]].append(t)
    swaps = 0
    for rec in _workers(run).values():
        info = rec["trait_info"].get("dex_user")
        if not info:
            continue
        pool, router = services[info["pool"]], services[info["router"]]
        for legs in by_tx.values():
            pairs = {(t["from"].lower(), t["to"].lower()) for t in legs}
            if (rec["wallet"], pool) in pairs:
                assert (router, rec["wallet"]) in pairs and (pool, router) in pairs
                swaps += 1
    assert swaps >= 1
    for name in ("dex-pool-1", "dex-router-1", "exchange-1-hot"):
        assert name in services


def test_listed_addresses_share_the_hubs_a_naive_search_is_fooled(run: Simulation) -> None:
    services = set(run.truth["service_addresses"].values())  # type: ignore[union-attr]
    state: dict[str, bool] = {}
    for e in run.events:
        if e.topic == "sanctions":
            state[str(e.payload["address"]).lower()] = not e.payload["delisted"]
    listed = {a for a, on in state.items() if on}
    transfers = _transfers(run)
    touching = {t["from"].lower() for t in transfers if t["to"].lower() in services} | {
        t["to"].lower() for t in transfers if t["from"].lower() in services
    }
    assert len(touching & listed) >= 3
    graph = TransferGraph(transfers)
    fooled = 0
    for rec in _workers(run).values():
        if rec["bad"]:
            continue
        naive = graph.hops(listed, rec["wallet"], set())
        proper = graph.hops(listed, rec["wallet"], services)
        fooled += any(h is not None and h <= 2 for h in naive)
        assert all(h is None or h >= 3 for h in proper)
    assert fooled >= 5


def test_expected_alert_times(run: Simulation) -> None:
    shared = 0
    for rec in _workers(run).values():
        times = rec["expected_alert_times"]
        assert list(times) == rec["expected_alerts"]
        for t, at in times.items():
            if t == "SHARED_DEVICE":
                shared += 1
                assert rec["kind"] == "ring" and rec["shared_device"]
                assert at is not None and (rec["change_time"] is None or at <= rec["change_time"])
            else:
                assert at == rec["change_time"]
    assert shared >= 2
