"""Services and hubs in the pure core: barriers with reasons, exact hub counts, re-validation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reputation.alerts import sanctions_alert
from reputation.errors import ConfigError
from reputation.events import Address, PayoutEvent, SanctionEntry, TransferEvent
from reputation.exposure import (
    AddressState,
    ExposureModel,
    LinkClaim,
    MatchKind,
    Service,
    ServiceDirectory,
)
from reputation.links import LinkModel

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EXCHANGE = Address("0x28c6c06298d514db089934071355e5743bf21d60")
DIRECTORY = ServiceDirectory.of([Service(EXCHANGE, "Binance 14", "exchange", "shipped list")])


def addr(i: int) -> Address:
    return Address(f"0x{i:040x}")


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def transfer(i: int, a: Address, b: Address, day: float) -> TransferEvent:
    return TransferEvent(f"1:0x{i:064x}:0", 1, i, at(day), f"0x{i:064x}", 0, "ETH", a, b, 1000, 18)


def payout(i: int, worker: str, wallet: Address, day: float) -> PayoutEvent:
    return PayoutEvent(f"p-{i}", worker, "a", wallet, 1, "USDC", Decimal(1), None, at(day))


class Db:
    def __init__(self, model: ExposureModel) -> None:
        self.model = model
        self.states: dict[Address, AddressState] = {}
        self.n = 0

    def get(self, a: Address) -> AddressState | None:
        return self.states.get(a)

    def send(self, a: Address, b: Address, day: float) -> TransferEvent:
        self.n += 1
        t = transfer(self.n, a, b, day)
        for x in (a, b):
            self.states[x] = self.model.add_transfer(self.states.get(x) or AddressState(x), t)
        return t

    def pay(self, worker: str, wallet: Address, day: float) -> PayoutEvent:
        self.n += 1
        p = payout(self.n, worker, wallet, day)
        self.states[wallet] = self.model.add_payout(
            self.states.get(wallet) or AddressState(wallet), p
        )
        return p

    def list(self, a: Address) -> None:
        entry = SanctionEntry(a, "DPRK3", "LAZARUS GROUP", at(-10), "OFAC SDN", False)
        self.states[a] = self.model.add_listing(self.states.get(a) or AddressState(a), entry)


W, X, Y, S = addr(1), addr(2), addr(3), addr(9)


def linked_world(model: ExposureModel) -> tuple[Db, PayoutEvent]:
    db = Db(model)
    db.list(S)
    db.send(W, X, 1)
    db.send(X, S, 2)
    return db, db.pay("w-1", W, 5)


# ----- barriers and their reasons -----------------------------------------------------------


def test_a_service_stops_the_path_and_the_answer_says_so() -> None:
    model = ExposureModel(services=DIRECTORY)
    db = Db(model)
    db.list(S)
    db.send(W, EXCHANGE, 1)
    db.send(S, EXCHANGE, 1)
    db.send(EXCHANGE, W, 2)
    got = model.assess(db.get, W)
    assert not got.linked
    assert [b.reason for b in got.stopped] == ["service: Binance 14 (shipped list)"]
    body = got.to_json()
    assert body["stopped_at"][0]["label"] == "Binance 14"  # type: ignore[index]
    assert model.assess(db.get, EXCHANGE).to_json()["barrier"]["category"] == "exchange"  # type: ignore[index]
    # Without the directory the exchange is a private address and the wallet is linked.
    plain = ExposureModel()
    db2 = Db(plain)
    db2.list(S)
    db2.send(S, EXCHANGE, 1)
    db2.send(EXCHANGE, W, 2)
    assert plain.assess(db2.get, W).linked


def test_a_hub_stops_the_path_with_its_count_as_reason() -> None:
    model = ExposureModel()
    db = Db(model)
    db.list(S)
    db.send(S, X, 1)
    db.send(X, W, 2)
    assert model.assess(db.get, W).linked
    for i in range(300):
        db.send(addr(1000 + i), X, 0.5)
    got = model.assess(db.get, W)
    assert not got.linked
    (stop,) = got.stopped
    assert stop.kind == "hub" and stop.address == X
    assert stop.reason.startswith("hub: about ") and stop.reason.endswith("distinct counterparties")
    assert stop.counterparties is not None and 200 < stop.counterparties < 450


def test_match_evidence_names_where_other_paths_stopped() -> None:
    model = ExposureModel(services=DIRECTORY)
    db, p = linked_world(model)
    db.send(W, EXCHANGE, 3)
    db.send(EXCHANGE, S, 4)
    m = model.match_payout(db.get, p)
    assert m is not None and m.kind is MatchKind.SANCTIONED_LINKED_PAYOUT
    evidence = sanctions_alert(m).evidence
    assert [b["reason"] for b in evidence["stopped_at"]] == [  # type: ignore[attr-defined]
        "service: Binance 14 (shipped list)"
    ]


# ----- hub counts: exact, monotone, order-free ----------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.randoms(use_true_random=False))
def test_hub_decision_is_exact_monotone_and_order_free(n: int, rnd: random.Random) -> None:
    model = ExposureModel()  # hub_degree 100, counted exactly up to 128
    others = [addr(10_000 + i) for i in range(n)]
    events = [transfer(i, o, X, 1) for i, o in enumerate(others)]
    events += [transfer(n + i, X, o, 2) for i, o in enumerate(others[: n // 2])]  # both ways
    rnd.shuffle(events)
    s = AddressState(X)
    last = 0.0
    seen: set[Address] = set()
    for t in events:
        s = model.add_transfer(s, t)
        seen.add(t.sender if t.recipient == X else t.recipient)
        count = model.counterparties(s)
        assert count >= last  # monotone: once a hub, always a hub
        last = count
        if len(seen) < model.sketch_size:
            assert count == len(seen)
        assert model.is_barrier(X, s) == (len(seen) > model.hub_degree)
    rnd.shuffle(events)
    again = AddressState(X)
    for t in events:
        again = model.add_transfer(again, t)
    assert again.counterparties == s.counterparties


# ----- re-validating a raised alert ---------------------------------------------------------


def test_revalidate_withdraws_a_link_whose_inner_address_became_a_hub() -> None:
    model = ExposureModel()
    db, p = linked_world(model)
    m = model.match_payout(db.get, p)
    assert m is not None and m.kind is MatchKind.SANCTIONED_LINKED_PAYOUT
    claim = LinkClaim.from_evidence(sanctions_alert(m).evidence)
    assert claim == LinkClaim.from_match(m) and claim.inner == (X,)
    assert model.revalidate(db.get, claim).status == "valid"
    for i in range(120):
        db.send(addr(2000 + i), X, 0.5)
    r = model.revalidate(db.get, claim)
    assert r.status == "withdraw" and r.barrier is not None and r.barrier.address == X
    assert r.reason.startswith("path stopped at hub: ")
    assert r.current is None
    assert model.match_payout(db.get, p) is None


def test_revalidate_keeps_a_link_that_another_path_still_gives() -> None:
    model = ExposureModel()
    db, p = linked_world(model)
    db.send(W, Y, 1)
    db.send(Y, S, 3)
    m = model.match_payout(db.get, p)
    assert m is not None and m.path is not None and m.path.hops[0].recipient == X
    for i in range(120):
        db.send(addr(2000 + i), X, 0.5)
    r = model.revalidate(db.get, m)
    assert r.status == "valid" and r.reason.startswith("another path holds (hub: ")
    assert r.current is not None and r.current.path is not None
    assert r.current.path.hops[0].recipient == Y


def test_revalidate_reports_a_changed_kind_as_the_current_match() -> None:
    model = ExposureModel()
    db, p = linked_world(model)
    db.send(W, Y, 7)
    db.send(Y, S, 8)  # a second path, formed after the payout: retroactive
    m = model.match_payout(db.get, p)
    assert m is not None and m.kind is MatchKind.SANCTIONED_LINKED_PAYOUT
    for i in range(120):
        db.send(addr(2000 + i), X, 0.5)
    r = model.revalidate(db.get, m)
    assert r.status == "withdraw"
    assert r.current is not None and r.current.kind is MatchKind.RETROACTIVE_MATCH


def test_revalidate_keeps_an_alert_whose_evidence_aged_out() -> None:
    model = ExposureModel(max_edges=2)
    db, p = linked_world(model)
    m = model.match_payout(db.get, p)
    assert m is not None
    # An earlier counterparty of X (a backfill) and X's later traffic push its edge to S
    # out of the two edges it keeps (the earliest counterparty's first, the latest).
    db.send(X, addr(3000), 1.0)
    db.send(X, addr(3001), 3.0)
    r = model.revalidate(db.get, m)
    assert r.status == "unverifiable" and "kept" in r.reason


def test_a_counterpartys_first_edge_survives_later_traffic() -> None:
    # Hundreds of later payouts into a wallet must not push out the one early transfer
    # from an address that is listed months later (the retroactive match needs it).
    model = ExposureModel(max_edges=8)
    db = Db(model)
    db.send(S, W, 1)
    for i in range(40):
        db.send(addr(4000 + i % 3), W, 2 + i)
    kept = {e.sender for e in db.get(W).received}  # type: ignore[union-attr]
    assert S in kept
    db.list(S)
    assert model.assess(db.get, W).linked


def test_revalidate_keeps_a_direct_match() -> None:
    model = ExposureModel(services=frozenset({S}))
    db = Db(model)
    db.list(S)
    m = model.match_payout(db.get, db.pay("w-1", S, 1))
    assert m is not None and m.kind is MatchKind.SANCTIONED_PAYOUT
    assert model.revalidate(db.get, m).status == "valid"


# ----- shared wallets -----------------------------------------------------------------------


def test_consolidation_at_a_graph_hub_is_not_a_shared_wallet_and_a_ring_still_is() -> None:
    model, links = ExposureModel(), LinkModel()
    db = Db(model)
    hub, cash_out = addr(700), addr(800)
    for k in range(3):
        wallet = addr(10 + k)
        db.pay(f"w-{k}", wallet, 1)
        db.send(wallet, hub, 2)
        db.send(wallet, cash_out, 3)
    assert {a.worker_id for a in links.consolidation_alerts(model, db.get, hub)} == {
        "w-0",
        "w-1",
        "w-2",
    }
    raised = links.consolidation_alerts(model, db.get, hub)[0]
    for i in range(300):
        db.send(addr(5000 + i), hub, 0.5)
    assert links.consolidation_alerts(model, db.get, hub) == []
    r = links.revalidate_shared(model, db.get, raised)
    assert r.status == "withdraw" and r.reason.startswith("the shared address is a hub: ")
    ring = links.consolidation_alerts(model, db.get, cash_out)
    assert {a.worker_id for a in ring} == {"w-0", "w-1", "w-2"}
    assert links.revalidate_shared(model, db.get, ring[0]).status == "valid"


def test_service_directory_values() -> None:
    model = ExposureModel(services=frozenset({EXCHANGE}))
    assert isinstance(model.services, ServiceDirectory) and EXCHANGE in model.services
    assert model.barrier(EXCHANGE, None) is not None
    with pytest.raises(ConfigError, match="category"):
        Service(EXCHANGE, "x", "casino", "shipped list")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="lower-case"):
        Service(Address(EXCHANGE.upper()), "x", "exchange", "shipped list")
    merged = DIRECTORY.merged(ServiceDirectory.from_addresses([EXCHANGE, X], "env"))
    assert len(merged) == 2 and merged.get(EXCHANGE).label == "Binance 14"  # type: ignore[union-attr]
    assert list(merged) == sorted([EXCHANGE, X])
