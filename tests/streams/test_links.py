"""The wallet side over a simulated platform: the same alerts whatever the arrival order."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest

from config.settings import load_settings
from reputation.alerts import Alert
from reputation.events import (
    PayoutEvent,
    SanctionEntry,
    TransferEvent,
    parse_payout,
    parse_sanction,
    parse_transfer,
)
from sim.config import SimConfig
from sim.generate import simulate
from sim.output import load_sanctions_lists
from streams.links import LinkProcessor, MemoryLinkStore
from streams.replay import link_fact

Fact = PayoutEvent | TransferEvent | SanctionEntry


@pytest.fixture(scope="module")
def platform() -> tuple[list[Fact], dict[str, object]]:
    run = simulate(SimConfig(seed=5, workers=150, days=40), load_sanctions_lists())
    facts: list[Fact] = []
    for e in run.events:
        if e.topic == "payouts":
            facts.append(parse_payout(e.payload))
        elif e.topic == "transfers":
            facts.append(parse_transfer(e.payload))
        elif e.topic == "sanctions":
            facts.append(parse_sanction(e.payload))
    return facts, run.truth


def run_links(facts: Iterable[Fact], truth: dict[str, object]) -> dict[str, Alert]:
    services = ",".join(truth["service_addresses"].values())  # type: ignore[attr-defined]
    settings = load_settings({"VIGIL_SERVICE_ADDRESSES": services})
    links = LinkProcessor(settings.exposure, settings.links, MemoryLinkStore())
    out: dict[str, Alert] = {}
    for fact in facts:
        for alert in link_fact(links, fact):
            assert alert.alert_id not in out, "an alert id is raised once"
            out[alert.alert_id] = alert
    return out


def keys(alerts: dict[str, Alert]) -> set[tuple[str, str, str | None]]:
    return {(a.alert_id, a.type, a.worker_id) for a in alerts.values()}


def test_sanctions_and_rings_are_found_in_file_order(platform: tuple[list[Fact], dict]) -> None:
    facts, truth = platform
    alerts = run_links(facts, truth)
    by_worker: dict[str, set[str]] = {}
    for a in alerts.values():
        by_worker.setdefault(str(a.worker_id), set()).add(a.type)
    for worker, info in truth["workers"].items():
        expected = set(info["expected_alerts"]) & {
            "SANCTIONED_PAYOUT",
            "SANCTIONED_LINKED_PAYOUT",
            "RETROACTIVE_MATCH",
            "SHARED_WALLET",
        }
        got = by_worker.get(worker, set())
        assert expected <= got, (worker, info["kind"], expected, got)
        if not info["bad"]:
            assert not got, (worker, info["kind"], got)


@pytest.mark.parametrize("order", ["payouts_first", "chain_first", "shuffled_within_topics"])
def test_arrival_order_does_not_change_the_alerts(
    platform: tuple[list[Fact], dict], order: str
) -> None:
    """Sanctions entries come first (a list is loaded before it is needed); the rest may not."""
    facts, truth = platform
    expected = keys(run_links(facts, truth))
    lists = [f for f in facts if isinstance(f, SanctionEntry)]
    payouts = [f for f in facts if isinstance(f, PayoutEvent)]
    transfers = [f for f in facts if isinstance(f, TransferEvent)]
    if order == "payouts_first":
        reordered = lists + payouts + transfers
    elif order == "chain_first":
        reordered = lists + transfers + payouts
    else:  # topics consumed concurrently: interleave the two streams at random
        rng, reordered = random.Random(3), list(lists)
        p, t = list(payouts), list(transfers)
        while p or t:
            src = p if (p and (not t or rng.random() < 0.5)) else t
            reordered.append(src.pop(0))
    assert keys(run_links(reordered, truth)) == expected


def test_redelivery_raises_nothing_new(platform: tuple[list[Fact], dict]) -> None:
    facts, truth = platform
    services = ",".join(truth["service_addresses"].values())
    settings = load_settings({"VIGIL_SERVICE_ADDRESSES": services})
    links = LinkProcessor(settings.exposure, settings.links, MemoryLinkStore())
    first = [a for f in facts for a in link_fact(links, f)]
    assert first
    assert [a for f in facts for a in link_fact(links, f)] == []
