"""One simulated run from parameters to sorted events and ground truth (pure)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass

from sim.chain import build_chain
from sim.config import SimConfig
from sim.events import TOPICS, Event, make_event, sort_key
from sim.invalid import add_invalid_events
from sim.platform import PayoutIntent, WorkerActivity, settle_payouts, simulate_worker
from sim.population import build_population
from sim.sanctions import SanctionsLists, sanctions_event
from sim.truth import build_truth


@dataclass(frozen=True, slots=True)
class Simulation:
    """The result of a run.

    Parameters
    ----------
    events
        Every event in replay order: event time, then topic rank, then event id.
    truth
        The truth.json document.
    """

    events: list[Event]
    truth: dict[str, object]


def simulate(
    cfg: SimConfig, lists: SanctionsLists, progress: Callable[[int], object] | None = None
) -> Simulation:
    """Run the simulator: same config and lists, same events and truth, byte for byte.

    Parameters
    ----------
    cfg
        Seed, horizon and population sizes.
    lists
        The OFAC SDN lists (current and delisted), e.g. from
        `sim.output.load_sanctions_lists`.
    progress
        Called with 1 after each simulated worker (a progress bar's ``update``);
        it sees nothing of the output, which stays the same with or without it.

    Examples
    --------
    >>> from sim.sanctions import ListedAddress, SanctionsLists
    >>> listed = tuple(ListedAddress(f"0x{i:040x}", "DPRK3", "X", 0) for i in range(1, 40))
    >>> run = simulate(SimConfig(seed=1, workers=30, days=10), SanctionsLists(listed, ()))
    >>> run.events == sorted(run.events, key=sort_key)
    True
    """
    # A run holds ~10^5-10^6 small dicts and tuples, none in reference cycles; the
    # cyclic garbage collector would rescan them all again and again (40 % of the time).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _simulate(cfg, lists, progress)
    finally:
        if gc_was_enabled:
            gc.enable()


def _simulate(
    cfg: SimConfig, lists: SanctionsLists, progress: Callable[[int], object] | None
) -> Simulation:
    pop = build_population(cfg, lists)
    activity: list[WorkerActivity] = []
    events: list[Event] = []
    intents: list[PayoutIntent] = []
    for worker in pop.workers:
        act = simulate_worker(worker, pop, cfg)
        activity.append(act)
        events.extend(act.events)
        intents.extend(act.intents)
        if progress is not None:
            progress(1)
    payout_events, payouts = settle_payouts(intents, pop, cfg)
    events.extend(payout_events)
    transfers, facts = build_chain(pop, cfg, payouts)
    events.extend(transfers)

    for entry in pop.initial_listed:
        when = max(cfg.start_ts, entry.listed_at)
        if when < cfg.end_ts:
            events.append(
                make_event(
                    when, "sanctions", entry.address, sanctions_event(entry, entry.listed_at, False)
                )
            )
    for entry in pop.withheld:
        in_run = facts.listings.get(entry.address)
        if in_run is not None and in_run < cfg.end_ts:
            events.append(
                make_event(
                    in_run, "sanctions", entry.address, sanctions_event(entry, in_run, False)
                )
            )
    if pop.delisting is not None:
        entry = pop.delisting
        events.append(
            make_event(
                cfg.start_ts,
                "sanctions",
                entry.address,
                sanctions_event(entry, min(entry.listed_at, cfg.start_ts), False),
            )
        )
        # The contract has no "delisted_at": a delisting entry carries its own time in
        # listed_at, so that it is the later entry for the address and replaces the listing.
        events.append(
            make_event(
                pop.delisted_at,
                "sanctions",
                entry.address,
                sanctions_event(entry, pop.delisted_at, True),
            )
        )

    events, invalid = add_invalid_events(events, cfg.invalid_rate, cfg.seed)
    events.sort(key=sort_key)
    counts = {topic: 0 for topic in TOPICS}
    for event in events:
        counts[event.topic] += 1
    counts["invalid"] = len(invalid)
    truth = build_truth(cfg, pop, activity, payouts, facts, invalid, counts)
    return Simulation(events, truth)
