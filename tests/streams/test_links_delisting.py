"""A delisting that arrives late withdraws the alerts it shows never held (issue 11, item 1).

Arrival order is not event order: a listing can reach the wallet side before
the delisting that ended it, and a payout or transfer from after the delisting
can arrive in between. The alert raised then must be withdrawn once the
delisting arrives, so that the standing alerts are those of the final list,
whatever the order; a delisting after the payout's link never withdraws it.
"""

from __future__ import annotations

import itertools

from reputation.events import Address, SanctionEntry
from tests.streams.test_links_services import (
    LISTED,
    Fact,
    Run,
    addr,
    at,
    default_settings,
    listing,
    payout,
    transfer,
)

WALLET = addr(0xB0B)


def delisting(day: float, a: Address = LISTED) -> SanctionEntry:
    return SanctionEntry(a, "DPRK3", "LAZARUS GROUP", at(day), "OFAC SDN", True)


def every_order(facts: list[Fact]) -> list[Run]:
    exposure, links = default_settings()
    return [Run(order, exposure, links) for order in itertools.permutations(facts)]


def test_a_link_made_after_the_delisting_stands_in_no_order() -> None:
    facts: list[Fact] = [
        listing(),  # listed from day -30
        delisting(5),
        transfer(LISTED, WALLET, 6),  # the listed address pays the wallet after its delisting
        payout("w-1", WALLET, 7),
    ]
    runs = every_order(facts)
    assert all(run.standing == {} for run in runs), [r.types() for r in runs if r.standing]
    # The orders that see the listing, the transfer and the payout before the delisting
    # raise the alert, then withdraw it, saying why.
    withdrawn = [w for run in runs for w in run.withdrawn]
    assert withdrawn
    assert {w.type for w in withdrawn} <= {"SANCTIONED_LINKED_PAYOUT", "RETROACTIVE_MATCH"}
    assert all("was not in force then: delisted" in w.reason for w in withdrawn)
    assert all(w.worker_id == "w-1" and w.wallet == WALLET for w in withdrawn)


def test_a_payout_straight_to_an_address_delisted_before_it_stands_in_no_order() -> None:
    runs = every_order([listing(), delisting(5), payout("w-2", LISTED, 7)])
    assert all(run.standing == {} for run in runs)
    assert any(run.withdrawn for run in runs)


def test_a_delisting_after_the_link_never_withdraws_it() -> None:
    facts: list[Fact] = [
        listing(),
        transfer(LISTED, WALLET, 6),  # while listed
        payout("w-1", WALLET, 7),
        delisting(10),
    ]
    runs = every_order(facts)
    expected = runs[0].types()
    assert expected == {("SANCTIONED_LINKED_PAYOUT", "w-1")}
    assert all(run.types() == expected for run in runs)
    assert not any(run.withdrawn for run in runs)


def test_the_same_facts_delivered_twice_give_the_same_standing_alerts() -> None:
    facts: list[Fact] = [listing(), delisting(5), transfer(LISTED, WALLET, 6)]
    facts += [payout("w-1", WALLET, 7), payout("w-3", LISTED, 8)]
    exposure, links = default_settings()
    for order in itertools.permutations(facts):
        doubled = [*order[:3], *order, *order[2:]]
        assert Run(doubled, exposure, links).standing == {}
