"""Properties of sanctions exposure over the bounded wallet graph (reputation/exposure.py)."""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reputation.errors import ConfigError
from reputation.events import Address, PayoutEvent, SanctionEntry, TransferEvent
from reputation.exposure import (
    AddressState,
    ExposureModel,
    MatchKind,
    edge_from_transfer,
    exposure_state_from_record,
    exposure_state_to_record,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def addr(i: int) -> Address:
    return Address(f"0x{i:040x}")


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def transfer(
    i: int,
    a: int,
    b: int,
    day: float,
    amount: int = 1000,
    asset: str = "ETH",
) -> TransferEvent:
    return TransferEvent(
        event_id=f"1:0x{i:064x}:0",
        chain_id=1,
        block_number=i,
        block_time=at(day),
        tx_hash=f"0x{i:064x}",
        log_index=0,
        token=asset,
        sender=addr(a),
        recipient=addr(b),
        amount=amount,
        decimals=18 if asset == "ETH" else 6,
    )


def listing(a: int, day: float, *, delisted: bool = False) -> SanctionEntry:
    return SanctionEntry(addr(a), "DPRK3", "LAZARUS GROUP", at(day), "OFAC SDN", delisted)


def payout(i: int, wallet: int, day: float, worker: str = "w-1") -> PayoutEvent:
    return PayoutEvent(
        f"p-{i}", worker, "agent-7", addr(wallet), 1, "USDC", Decimal("12.50"), None, at(day)
    )


Item = TransferEvent | SanctionEntry | PayoutEvent | tuple[SanctionEntry, datetime]


class Db:
    """A replay-style store: a dict of address states, with the engine's update order."""

    def __init__(self, model: ExposureModel) -> None:
        self.model = model
        self.states: dict[Address, AddressState] = {}

    def get(self, a: Address) -> AddressState:
        return self.states.get(a) or AddressState(a)

    def apply(self, item: Item) -> None:
        m = self.model
        if isinstance(item, TransferEvent):
            for a in {item.sender, item.recipient}:
                new = m.add_transfer(self.get(a), item)
                if new != AddressState(a):
                    self.states[a] = new
        elif isinstance(item, PayoutEvent):
            self.states[item.wallet] = m.add_payout(self.get(item.wallet), item)
        elif isinstance(item, tuple):
            entry, since = item  # a delisting that says since when it was listed
            self.states[entry.address] = m.add_listing(
                self.get(entry.address), entry, listed_since=since
            )
        else:
            self.states[item.address] = m.add_listing(self.get(item.address), item)

    def apply_all(self, items: Iterable[Item]) -> Db:
        for x in items:
            self.apply(x)
        return self

    def lookup(self, a: Address) -> AddressState | None:
        return self.states.get(a)


# ----- strategies --------------------------------------------------------------------------

N_ADDR = 12


@st.composite
def worlds(draw: st.DrawFn) -> list[Item]:
    n_transfers = draw(st.integers(0, 40))
    items: list[Item] = []
    for i in range(n_transfers):
        a = draw(st.integers(0, N_ADDR - 1))
        b = draw(st.integers(0, N_ADDR - 1))
        items.append(
            transfer(
                i,
                a,
                b,
                draw(st.integers(0, 30)),
                draw(st.integers(0, 5000)),
                draw(st.sampled_from(["ETH", "0x" + "c" * 40])),
            )
        )
    for a in draw(st.sets(st.integers(0, N_ADDR - 1), max_size=3)):
        day = draw(st.integers(0, 30))
        items.append(listing(a, day))
        if draw(st.booleans()):  # delisted later, with or without its listing time
            off = listing(a, day + draw(st.integers(1, 10)), delisted=True)
            items.append((off, at(day)) if draw(st.booleans()) else off)
            if draw(st.booleans()):  # and listed again
                items.append(listing(a, day + draw(st.integers(11, 20))))
    for i in range(draw(st.integers(0, 6))):
        items.append(
            payout(i, draw(st.integers(0, N_ADDR - 1)), draw(st.integers(0, 30)), f"w-{i % 3}")
        )
    return items


def summary(db: Db) -> tuple[object, ...]:
    m, look = db.model, db.lookup
    everyone = [addr(i) for i in range(N_ADDR)]
    return (
        {a: exposure_state_to_record(s) for a, s in sorted(db.states.items())},
        [m.assess(look, a) for a in everyone],
        [m.assess(look, a, at=at(15)) for a in everyone],
        m.rescreen(look, everyone),
    )


# ----- properties --------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_order_independence(items: list[Item], rnd: random.Random) -> None:
    model = ExposureModel(max_edges=6, hub_degree=8, sketch_size=8)
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert summary(Db(model).apply_all(items)) == summary(Db(model).apply_all(shuffled))


@settings(max_examples=100, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_idempotent_redelivery(items: list[Item], rnd: random.Random) -> None:
    model = ExposureModel(max_edges=6)
    doubled = items + [x for x in items if rnd.random() < 0.7]
    rnd.shuffle(doubled)
    assert summary(Db(model).apply_all(items)) == summary(Db(model).apply_all(doubled))


def oracle_linked(items: Sequence[Item], model: ExposureModel, start: Address) -> bool:
    """Brute force: BFS over every transfer, one direction at a time, no caps."""
    latest: dict[Address, tuple[datetime, bool]] = {}
    for x in items:
        entry = x[0] if isinstance(x, tuple) else x
        if isinstance(entry, SanctionEntry):
            key = (entry.listed_at, entry.delisted)
            latest[entry.address] = max(latest.get(entry.address, key), key)
    listed = {a for a, (_, delisted) in latest.items() if not delisted}
    edges = [
        x
        for x in items
        if isinstance(x, TransferEvent) and x.amount > 0 and x.sender != x.recipient
    ]
    if start in model.services:
        return False  # services keep no edges: they are listed or not, never linked
    for forward in (True, False):
        seen = {start: 0}
        queue = deque([start])
        while queue:
            u = queue.popleft()
            if seen[u] and u in listed:
                return True
            if seen[u] == model.max_hops or (seen[u] and model.is_barrier(u, None)):
                continue
            for e in edges:
                a, b = (e.sender, e.recipient) if forward else (e.recipient, e.sender)
                if a == u and b not in seen:
                    seen[b] = seen[u] + 1
                    queue.append(b)
    return False


@settings(max_examples=200, deadline=None)
@given(worlds(), st.sets(st.integers(0, N_ADDR - 1), max_size=2))
def test_linked_matches_brute_force_bfs(items: list[Item], services: set[int]) -> None:
    model = ExposureModel(services=frozenset(addr(i) for i in services))
    db = Db(model).apply_all(items)
    for i in range(N_ADDR):
        a = addr(i)
        got = model.assess(db.lookup, a)
        assert got.linked == oracle_linked(items, model, a), a
        if got.path is not None:
            check_path(db, model, a, got.path.hops, got.path.direction, got.path.listed)
            assert 0.0 < got.path.share <= 1.0


def check_path(
    db: Db,
    model: ExposureModel,
    wallet: Address,
    hops: Sequence[object],
    direction: str,
    listed: Address,
) -> None:
    from reputation.exposure import Hop

    chain = [h for h in hops if isinstance(h, Hop)]
    assert 1 <= len(chain) <= model.max_hops
    for h1, h2 in zip(chain, chain[1:], strict=False):
        assert h1.recipient == h2.sender
    ends = (chain[0].sender, chain[-1].recipient)
    assert ends == ((wallet, listed) if direction == "to_listed" else (listed, wallet))
    for h in chain:  # every hop is a transfer that the graph really holds
        kept = db.get(h.sender).sent + db.get(h.recipient).received
        assert any(
            e.event_id == h.event_id and (e.sender, e.recipient) == (h.sender, h.recipient)
            for e in kept
        )
    for h in chain[1:]:
        assert h.sender not in model.services
    assert db.get(listed).list_events


# ----- worked examples ---------------------------------------------------------------------


W, X, Y, S, D = 1, 2, 3, 9, 7  # wallet, intermediates, listed, decoy


def test_decoys_at_three_hops_are_never_linked() -> None:
    model = ExposureModel()
    db = Db(model).apply_all(
        [
            transfer(1, W, X, 1),
            transfer(2, X, Y, 2),
            transfer(3, Y, S, 3),  # W is 3 hops out
            transfer(4, S, Y, 4),
            transfer(5, Y, X, 5),
            transfer(6, X, D, 6),  # D is 3 hops in
            listing(S, 0),
        ]
    )
    assert not model.assess(db.lookup, addr(W)).linked
    assert not model.assess(db.lookup, addr(D)).linked
    assert model.assess(db.lookup, addr(X)).linked
    assert ExposureModel(max_hops=3).assess(db.lookup, addr(W)).linked


def test_mixed_direction_siblings_are_not_linked() -> None:
    # W and S both received from X: that makes them siblings, not a flow of funds.
    model = ExposureModel()
    db = Db(model).apply_all([transfer(1, X, W, 1), transfer(2, X, S, 1), listing(S, 0)])
    assert not model.assess(db.lookup, addr(W)).linked


def test_service_barrier_and_service_as_endpoint() -> None:
    exchange = 5
    items: list[Item] = [transfer(1, W, exchange, 1), transfer(2, exchange, S, 2), listing(S, 0)]
    plain = ExposureModel()
    assert plain.assess(Db(plain).apply_all(items).lookup, addr(W)).linked
    model = ExposureModel(services=frozenset({addr(exchange)}))
    db = Db(model).apply_all(items)
    assert not model.assess(db.lookup, addr(W)).linked
    assert db.get(addr(exchange)) == AddressState(addr(exchange))  # keeps no edges
    # a listed service is still an endpoint: sending to it is direct exposure
    db.apply(listing(exchange, 0))
    got = model.assess(db.lookup, addr(W))
    assert got.linked and got.path is not None and got.path.listed == addr(exchange)


def test_path_amounts_times_and_share() -> None:
    model = ExposureModel()
    usdc = "0x" + "c" * 40
    db = Db(model).apply_all(
        [
            transfer(1, W, X, 1, 300, usdc),
            transfer(2, W, Y, 1, 700, usdc),  # 30 % to X
            transfer(3, X, S, 2, 50, usdc),
            transfer(4, X, D, 2, 50, usdc),  # half of it to S
            listing(S, 0),
        ]
    )
    got = model.assess(db.lookup, addr(W))
    assert got.path is not None
    p = got.path
    assert p.direction == "to_listed" and p.listed == addr(S)
    assert [(h.sender, h.recipient, h.amount, h.at) for h in p.hops] == [
        (addr(W), addr(X), 300, at(1)),
        (addr(X), addr(S), 50, at(2)),
    ]
    assert p.linked_at == at(2)
    assert p.share == pytest.approx(0.3 * 0.5)
    doc = json.loads(json.dumps(got.to_json()))
    assert doc["path"]["n_hops"] == 2 and doc["path"]["hops"][0]["amount"] == "300"


def test_from_listed_path_is_in_flow_order() -> None:
    model = ExposureModel()
    db = Db(model).apply_all([transfer(1, S, X, 1), transfer(2, X, W, 2), listing(S, 0)])
    got = model.assess(db.lookup, addr(W))
    assert got.path is not None and got.path.direction == "from_listed"
    assert [(h.sender, h.recipient) for h in got.path.hops] == [
        (addr(S), addr(X)),
        (addr(X), addr(W)),
    ]


def test_point_in_time_kinds() -> None:
    model = ExposureModel()
    db = Db(model).apply_all(
        [
            listing(S, 10),
            payout(1, S, 5),
            payout(2, S, 12),  # direct: before and after the listing
            transfer(1, W, S, 20),
            payout(3, W, 15),
            payout(4, W, 25),  # linked at day 20
        ]
    )
    kinds = {
        m.payout_event_id: (m.kind, m.matched_at)
        for m in model.rescreen(db.lookup, [addr(S), addr(W)])
    }
    assert kinds == {
        "p-1": (MatchKind.RETROACTIVE_MATCH, at(10)),
        "p-2": (MatchKind.SANCTIONED_PAYOUT, at(10)),
        "p-3": (MatchKind.RETROACTIVE_MATCH, at(20)),
        "p-4": (MatchKind.SANCTIONED_LINKED_PAYOUT, at(20)),
    }
    m3 = model.match_payout(db.lookup, payout(3, W, 15))
    assert m3 is not None and m3.paid_at == at(15) and m3.listed_at == at(10)
    assert m3.path is not None and m3.path.hops[0].event_id == transfer(1, W, S, 20).event_id


def test_delisting_stops_future_alerts_and_keeps_history() -> None:
    model = ExposureModel()
    db = Db(model).apply_all([listing(S, 10), payout(1, S, 12), payout(2, S, 40)])
    db.apply(listing(S, 30, delisted=True))  # a delisting takes effect at its listed_at
    got = {m.payout_event_id: m.kind for m in model.rescreen(db.lookup, [addr(S)])}
    assert got == {"p-1": MatchKind.SANCTIONED_PAYOUT}
    assert not model.assess(db.lookup, addr(S)).listed
    assert model.assess(db.lookup, addr(S), at=at(20)).listed
    # a later copy of the listing entry does not reopen the episode
    db.apply(listing(S, 10))
    assert not model.assess(db.lookup, addr(S)).listed
    # a compacted topic may hold only the delisting: its listed_since keeps the history
    alone = Db(model).apply_all([(listing(S, 30, delisted=True), at(10)), payout(1, S, 12)])
    got = {m.payout_event_id: m.kind for m in model.rescreen(alone.lookup, [addr(S)])}
    assert got == {"p-1": MatchKind.SANCTIONED_PAYOUT}
    # a delisting with nothing listed before it changes nothing
    assert model.episodes(Db(model).apply_all([listing(S, 5, delisted=True)]).get(addr(S))) == ()


def test_linked_before_delisting_only() -> None:
    model = ExposureModel()
    db = Db(model).apply_all(
        [
            listing(S, 0),
            listing(S, 10, delisted=True),
            transfer(1, W, S, 20),
            payout(1, W, 25),
            payout(2, W, 5),
        ]
    )
    assert model.rescreen(db.lookup, [addr(W)]) == ()  # the link formed after the delisting


def test_matches_after_listing_and_after_transfer() -> None:
    model = ExposureModel()
    db = Db(model).apply_all([payout(1, W, 5), transfer(1, W, X, 1)])
    t2 = transfer(2, X, S, 3)
    db.apply(t2)
    assert model.matches_after_transfer(db.lookup, t2) == ()  # nothing listed yet
    db.apply(listing(S, 1))
    got = model.matches_after_listing(db.lookup, addr(S))
    assert [(m.kind, m.payout_event_id, m.wallet) for m in got] == [
        (MatchKind.SANCTIONED_LINKED_PAYOUT, "p-1", addr(W))
    ]
    # a newly seen transfer makes an earlier payout to Y linked: retroactive
    db.apply(payout(2, Y, 2))
    t3 = transfer(3, Y, S, 8)
    db.apply(t3)
    got = model.matches_after_transfer(db.lookup, t3)
    assert [(m.kind, m.payout_event_id, m.matched_at) for m in got] == [
        (MatchKind.RETROACTIVE_MATCH, "p-2", at(8))
    ]
    # a second transfer on a pair that already links changes nothing new
    t4 = transfer(4, Y, S, 9)
    db.apply(t4)
    assert model.matches_after_transfer(db.lookup, t4) == ()


def test_hub_is_bounded_and_does_not_link_the_graph() -> None:
    model = ExposureModel(max_edges=64, hub_degree=200)
    hub = 100
    items: list[Item] = [listing(S, 0), transfer(0, hub, S, 1)]
    for i in range(10_000):
        items.append(transfer(i + 1, 1000 + i, hub, 2))
    db = Db(model).apply_all(items)
    hub_state = db.get(addr(hub))
    assert len(hub_state.received) == 64 and len(hub_state.sent) == 1
    assert len(hub_state.counterparties) == model.sketch_size
    assert model.counterparties(hub_state) == pytest.approx(10_001, rel=0.35)
    assert model.is_barrier(addr(hub), hub_state)
    assert model.assess(db.lookup, addr(hub)).linked  # the hub itself paid S directly
    assert not any(model.assess(db.lookup, addr(1000 + i)).linked for i in range(0, 10_000, 97))
    assert max(len(s.sent) + len(s.received) for s in db.states.values()) <= 2 * 64


def test_search_is_capped() -> None:
    model = ExposureModel(max_visited=10, hub_degree=10_000, max_edges=1000)
    db = Db(model).apply_all([transfer(i, W, 100 + i, 1) for i in range(50)])
    assert model.assess(db.lookup, addr(W)).truncated


def test_zero_value_and_self_transfers_are_ignored() -> None:
    assert edge_from_transfer(transfer(1, W, S, 1, amount=0)) is None
    assert edge_from_transfer(transfer(1, W, W, 1)) is None
    model = ExposureModel()
    db = Db(model).apply_all([transfer(1, W, S, 1, amount=0), listing(S, 0)])
    assert not model.assess(db.lookup, addr(W)).linked


@settings(max_examples=50, deadline=None)
@given(worlds())
def test_state_record_round_trip(items: list[Item]) -> None:
    db = Db(ExposureModel()).apply_all(items)
    for s in db.states.values():
        rec = json.loads(json.dumps(exposure_state_to_record(s)))
        assert exposure_state_from_record(rec) == s


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ConfigError):
        ExposureModel(max_hops=0)
    with pytest.raises(ConfigError):
        ExposureModel(sketch_size=2)
    with pytest.raises(ConfigError):
        ExposureModel(services=frozenset({Address("0x" + "A" * 40)}))
