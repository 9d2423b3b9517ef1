"""Shared devices and wallets: order-free state, thresholds, service barriers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reputation.errors import ConfigError
from reputation.events import Address, PayoutEvent, TransferEvent
from reputation.exposure.graph import AddressState
from reputation.exposure.search import ExposureModel
from reputation.links import DeviceState, LinkModel, Sighting

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def addr(i: int) -> Address:
    return Address(f"0x{i:040x}")


def payout(i: int, worker: str, wallet: Address, day: int) -> PayoutEvent:
    return PayoutEvent(
        f"p-{i}",
        worker,
        "agent-1",
        wallet,
        1,
        "USDC",
        Decimal("10"),
        None,
        T0 + timedelta(days=day),
    )


def transfer(i: int, a: Address, b: Address, day: int) -> TransferEvent:
    return TransferEvent(
        f"1:0x{i:064x}:0",
        1,
        i,
        T0 + timedelta(days=day),
        f"0x{i:064x}",
        0,
        "ETH",
        a,
        b,
        10**18,
        18,
    )


sightings = st.lists(
    st.builds(
        Sighting,
        st.sampled_from(["w-1", "w-2", "w-3", "w-4"]),
        st.integers(0, 50).map(lambda d: T0 + timedelta(days=d)),
        st.sampled_from(["t-1", "t-2", "t-3"]),
    ),
    max_size=12,
)


@given(sightings, st.randoms(use_true_random=False))
def test_device_state_is_order_free(xs: list[Sighting], rnd: object) -> None:
    m = LinkModel(max_workers=3)
    a = DeviceState("d")
    for x in xs:
        a = m.add_sighting(a, x)
    shuffled = list(xs)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    b = DeviceState("d")
    for x in shuffled + xs:  # and redelivered
        b = m.add_sighting(b, x)
    assert a == b
    assert len(a.sightings) <= 3
    assert {x.alert_id for x in m.device_alerts(a)} == {x.alert_id for x in m.device_alerts(b)}


def test_one_worker_per_device_raises_nothing() -> None:
    m = LinkModel()
    s = m.add_sighting(DeviceState("d"), Sighting("w-1", T0, "t-1"))
    s = m.add_sighting(s, Sighting("w-1", T0 + timedelta(days=3), "t-9"))
    assert m.device_alerts(s) == []
    s = m.add_sighting(s, Sighting("w-2", T0 + timedelta(days=5), "t-5"))
    alerts = {a.worker_id: a for a in m.device_alerts(s)}
    assert set(alerts) == {"w-1", "w-2"}
    # The pattern exists from the later worker's first sighting, for both of them.
    assert alerts["w-1"].detected_at == alerts["w-2"].detected_at == T0 + timedelta(days=5)
    assert alerts["w-1"].evidence["n_workers"] == 2


def test_shared_wallet_and_service_barrier() -> None:
    ex = ExposureModel(services=frozenset({addr(99)}))
    m = LinkModel()
    wallet = AddressState(addr(1))
    wallet = ex.add_payout(wallet, payout(1, "w-1", addr(1), 1))
    assert m.wallet_alerts(ex, wallet) == []
    wallet = ex.add_payout(wallet, payout(2, "w-2", addr(1), 2))
    assert {a.worker_id for a in m.wallet_alerts(ex, wallet)} == {"w-1", "w-2"}
    hot = ex.add_payout(AddressState(addr(99)), payout(3, "w-1", addr(99), 1))
    hot = ex.add_payout(hot, payout(4, "w-2", addr(99), 1))
    assert m.wallet_alerts(ex, hot) == []


def test_consolidation_needs_several_workers_and_wallets() -> None:
    ex, m = ExposureModel(services=frozenset({addr(99)})), LinkModel()
    db: dict[Address, AddressState] = {}

    def apply_payout(p: PayoutEvent) -> None:
        db[p.wallet] = ex.add_payout(db.get(p.wallet) or AddressState(p.wallet), p)

    def apply_transfer(t: TransferEvent) -> None:
        for a in (t.sender, t.recipient):
            db[a] = ex.add_transfer(db.get(a) or AddressState(a), t)

    apply_payout(payout(1, "w-1", addr(1), 1))
    apply_payout(payout(2, "w-2", addr(2), 1))
    apply_payout(payout(3, "w-3", addr(3), 1))
    apply_transfer(transfer(1, addr(1), addr(50), 2))
    assert m.consolidation_alerts(ex, db.get, addr(50)) == []
    apply_transfer(transfer(2, addr(2), addr(50), 3))
    alerts = m.consolidation_alerts(ex, db.get, addr(50))
    assert {a.worker_id for a in alerts} == {"w-1", "w-2"}
    assert all(a.type == "SHARED_WALLET" and a.wallet == addr(50) for a in alerts)
    # Sending to an exchange's hot wallet (a known service) is not consolidation.
    apply_transfer(transfer(3, addr(1), addr(99), 2))
    apply_transfer(transfer(4, addr(3), addr(99), 2))
    assert m.consolidation_alerts(ex, db.get, addr(99)) == []


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="min_workers"):
        LinkModel(min_workers=1)
    with pytest.raises(ConfigError, match="max_workers"):
        LinkModel(min_workers=3, max_workers=2)
