"""One operator behind many identities: workers sharing a device, a wallet or a cash-out point.

Pure functions over order-free state: a `DeviceState` per device id (the first
sighting of each worker using it) and the exposure graph's `AddressState` per
address (payouts received, transfers kept). Three patterns raise
``SHARED_DEVICE`` or ``SHARED_WALLET`` on every worker involved:

- several workers seen on one device;
- several workers paid to one wallet;
- the payout wallets of several workers sending funds on to one address
  (a consolidation point).

Known service addresses (exchanges, DEX pools, bridges) and hubs receive from
everyone and are never a consolidation point or a shared wallet. Consolidation
looks one hop out only: two workers whose wallets each sweep to their own
exchange deposit address, which sweeps on to the exchange's hot wallet, share
nothing (the deposit addresses differ; the hot wallet is a service or a hub).
Several workers' wallets sending to one deposit address do share it: a deposit
address belongs to one customer. `LinkModel.revalidate_shared` tells whether a
``SHARED_WALLET`` raised before its address was known to be a hub still stands.

Every alert's time and triggering events come from event times (the moment the
pattern first existed for that worker), so the same events in any order give
the same alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from reputation.alerts import Alert, shared_alert
from reputation.errors import ConfigError
from reputation.events import Address, format_time
from reputation.exposure.graph import AddressState, Lookup, Revalidation
from reputation.exposure.search import ExposureModel

__all__ = ["MAX_NOT_SHARED", "DeviceState", "LinkModel", "Sighting"]

#: Services and hubs named in a consolidation alert as destinations that do not count.
MAX_NOT_SHARED = 8


@dataclass(frozen=True, slots=True)
class Sighting:
    """The first time a worker was seen with something (a device), by event time."""

    worker_id: str
    at: datetime
    event_id: str

    @property
    def key(self) -> tuple[datetime, str, str]:
        """Total order: time, then event id, then worker."""
        return (self.at, self.event_id, self.worker_id)


@dataclass(frozen=True, slots=True)
class DeviceState:
    """The workers seen with one device: each worker's first sighting, earliest first."""

    device_id: str
    sightings: tuple[Sighting, ...] = ()


@dataclass(frozen=True, slots=True)
class _First:
    at: datetime
    event_id: str
    via: str


@dataclass(frozen=True, slots=True)
class LinkModel:
    """Hyperparameters of the shared-identity patterns.

    Parameters
    ----------
    min_workers
        Workers that must share a device, wallet or consolidation point.
    max_workers
        Sightings kept per device (the earliest); bounds the state.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> m, t = LinkModel(), datetime(2026, 1, 1, tzinfo=UTC)
    >>> s = m.add_sighting(DeviceState("d-1"), Sighting("w-1", t, "t-1"))
    >>> s = m.add_sighting(s, Sighting("w-2", t, "t-2"))
    >>> sorted(a.worker_id for a in m.device_alerts(s))
    ['w-1', 'w-2']
    """

    min_workers: int = 2
    max_workers: int = 32

    def __post_init__(self) -> None:
        if self.min_workers < 2:
            raise ConfigError(f"min_workers must be >= 2, got {self.min_workers}")
        if self.max_workers < self.min_workers:
            raise ConfigError(f"max_workers must be >= min_workers, got {self.max_workers}")

    def add_sighting(self, s: DeviceState, x: Sighting) -> DeviceState:
        """Return `s` with a worker's sighting merged in (the earliest per worker is kept)."""
        firsts = {y.worker_id: y for y in s.sightings}
        old = firsts.get(x.worker_id)
        if old is not None and old.key <= x.key:
            return s
        firsts[x.worker_id] = x
        kept = sorted(firsts.values(), key=lambda y: y.key)[: self.max_workers]
        return replace(s, sightings=tuple(kept))

    def device_alerts(self, s: DeviceState) -> list[Alert]:
        """``SHARED_DEVICE`` for every worker of a device used by several workers."""
        firsts = {y.worker_id: _First(y.at, y.event_id, s.device_id) for y in s.sightings}
        return self._alerts("SHARED_DEVICE", s.device_id, firsts, None, "device_id")

    def wallet_alerts(self, exposure: ExposureModel, s: AddressState) -> list[Alert]:
        """``SHARED_WALLET`` for every worker paid to a wallet that pays several workers."""
        if exposure.is_barrier(s.address, s):
            return []
        firsts: dict[str, _First] = {}
        for p in s.payouts:
            old = firsts.get(p.worker_id)
            if old is None or (p.paid_at, p.event_id) < (old.at, old.event_id):
                firsts[p.worker_id] = _First(p.paid_at, p.event_id, s.address)
        return self._alerts("SHARED_WALLET", s.address, firsts, s.address, "paid_to")

    def consolidation_alerts(
        self, exposure: ExposureModel, lookup: Lookup, address: Address
    ) -> list[Alert]:
        """``SHARED_WALLET`` for workers whose own payout wallets all send funds to `address`.

        The evidence's ``not_shared`` names the services and hubs the same
        wallets also sent to, with the reason each does not count (``service:
        Binance 14 (shipped list)``). Needs at least `min_workers` workers and as
        many distinct sending wallets:
        one wallet shared by several workers sweeping to its exchange deposit is
        the shared wallet's alert, not a second one. A worker's evidence is the
        earliest transfer from one of its payout wallets; which payouts a wallet
        still keeps does not matter, so the answer does not depend on arrival order.
        """
        state = lookup(address)
        if state is None or exposure.is_barrier(address, state):
            return []
        firsts: dict[str, _First] = {}
        senders: set[Address] = set()
        for edge in state.received:
            sender = lookup(edge.sender)
            if sender is None or not sender.payouts:
                continue
            senders.add(edge.sender)
            for worker_id in {p.worker_id for p in sender.payouts}:
                old = firsts.get(worker_id)
                if old is None or (edge.at, edge.event_id) < (old.at, old.event_id):
                    firsts[worker_id] = _First(edge.at, edge.event_id, edge.sender)
        if len(senders) < self.min_workers or len(firsts) < self.min_workers:
            return []
        # Where else these wallets sent funds that does not count: services and hubs.
        elsewhere = sorted(
            {e.recipient for a in senders if (x := lookup(a)) is not None for e in x.sent}
            - {address}
        )
        stops = [
            b.to_json() for v in elsewhere if (b := exposure.barrier(v, lookup(v))) is not None
        ][:MAX_NOT_SHARED]
        return self._alerts(
            "SHARED_WALLET", address, firsts, address, "forwarded_to", {"not_shared": stops}
        )

    def revalidate_shared(
        self, exposure: ExposureModel, lookup: Lookup, alert: Alert
    ) -> Revalidation:
        """Tell whether a ``SHARED_WALLET`` alert raised earlier still stands.

        It must be withdrawn when its shared address (the wallet paid to, or
        the address forwarded to) has since become a known service or a hub;
        it is ``unverifiable`` (kept) when the pattern is no longer in the
        kept, bounded state for another reason. Pure: the caller reports it.

        Examples
        --------
        >>> from datetime import UTC, datetime
        >>> from decimal import Decimal
        >>> from reputation.events import PayoutEvent
        >>> ex, m, w = ExposureModel(), LinkModel(), Address("0x" + "1" * 40)
        >>> s = AddressState(w)
        >>> for i in (1, 2):
        ...     s = ex.add_payout(s, PayoutEvent(f"p-{i}", f"w-{i}", "a", w, 1, "USDC",
        ...         Decimal(1), None, datetime(2026, 1, i, tzinfo=UTC)))
        >>> alert = m.wallet_alerts(ex, s)[0]
        >>> m.revalidate_shared(ex, {w: s}.get, alert).status
        'valid'
        >>> m.revalidate_shared(ExposureModel(services=frozenset({w})), {w: s}.get, alert).reason
        'the shared address is a service: configured service 0x11111111 (configured)'
        """
        evidence = alert.evidence
        paid_to = evidence.get("paid_to")
        shared = Address(str(paid_to if paid_to is not None else evidence.get("forwarded_to")))
        state = lookup(shared)
        stop = exposure.barrier(shared, state)
        if stop is not None:
            return Revalidation("withdraw", f"the shared address is a {stop.reason}", stop)
        if paid_to is not None:
            now = [] if state is None else self.wallet_alerts(exposure, state)
        else:
            now = self.consolidation_alerts(exposure, lookup, shared)
        if any(a.alert_id == alert.alert_id for a in now):
            return Revalidation("valid", "the workers still share the address")
        why = "the pattern is no longer in the kept (bounded) state; the alert is kept"
        return Revalidation("unverifiable", why)

    def _alerts(
        self,
        alert_type: str,
        shared: str,
        firsts: dict[str, _First],
        wallet: Address | None,
        relation: str,
        extra: dict[str, object] | None = None,
    ) -> list[Alert]:
        if len(firsts) < self.min_workers:
            return []
        order = sorted(firsts.items(), key=lambda kv: (kv[1].at, kv[1].event_id, kv[0]))
        # The same list in every worker's evidence: built once, not once per worker.
        workers = [
            {"worker_id": w, "first_at": format_time(f.at), "event_id": f.event_id, "via": f.via}
            for w, f in order
        ]
        out: list[Alert] = []
        for worker_id, mine in order:
            other_id, other = next((w, f) for w, f in order if w != worker_id)
            detected = max(mine.at, other.at)
            evidence: dict[str, object] = {
                relation: shared,
                "workers": workers,
                "n_workers": len(order),
                "threshold": self.min_workers,
                **(extra or {}),
            }
            out.append(
                shared_alert(
                    "SHARED_WALLET" if alert_type == "SHARED_WALLET" else "SHARED_DEVICE",
                    worker_id,
                    shared,
                    detected,
                    (mine.event_id, other.event_id),
                    evidence,
                    wallet,
                )
            )
        return out
