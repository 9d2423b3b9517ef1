"""The wallet side of the engine: payouts, transfers, sanctions entries and device sightings.

Every fact that joins workers through wallets and devices, or wallets to a
sanctions list, goes through one `LinkProcessor`. On Kafka it runs in the
process that owns the single partition of ``{prefix}links`` (the worker agent
forwards payouts and new device sightings there; the router forwards transfers
and sanctions entries); in ``vigil replay`` it runs in line. State lives behind
`LinkStore`: Faust tables on Kafka, dicts in replay.

The logic is in `reputation.exposure` and `reputation.links`; this module only
reads state, calls them, writes state back and says which alerts are new.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from reputation.alerts import Alert, sanctions_alert
from reputation.events import Address, PayoutEvent, SanctionEntry, TransferEvent, parse_time
from reputation.exposure.graph import AddressState, PayoutMatch
from reputation.exposure.search import ExposureModel
from reputation.links import DeviceState, LinkModel, Sighting

__all__ = ["DeviceSighting", "LinkProcessor", "LinkStore", "MemoryLinkStore", "parse_sighting"]


@dataclass(frozen=True, slots=True)
class DeviceSighting:
    """A worker seen with a device for the first time (forwarded by the worker side)."""

    worker_id: str
    device_id: str
    at: datetime
    event_id: str

    def to_json(self) -> dict[str, object]:
        """Return the forwarded record."""
        from reputation.events import format_time

        return {
            "worker_id": self.worker_id,
            "device_id": self.device_id,
            "at": format_time(self.at),
            "event_id": self.event_id,
        }


def parse_sighting(obj: dict[str, object]) -> DeviceSighting:
    """Read a forwarded device sighting (written by this engine, so trusted but checked)."""
    return DeviceSighting(
        str(obj["worker_id"]),
        str(obj["device_id"]),
        parse_time(obj["at"], "at"),
        str(obj["event_id"]),
    )


class LinkStore(Protocol):
    """Where the wallet side keeps its state."""

    def address(self, address: Address) -> AddressState | None:
        """Return the state of an address, if any."""

    def put_address(self, state: AddressState) -> None:
        """Store the state of an address."""

    def device(self, device_id: str) -> DeviceState | None:
        """Return the state of a device, if any."""

    def put_device(self, state: DeviceState) -> None:
        """Store the state of a device."""

    def raised(self, alert_id: str) -> bool:
        """Tell whether an alert id was raised before."""

    def mark_raised(self, alert_id: str) -> None:
        """Remember that an alert id was raised."""


@dataclass
class MemoryLinkStore:
    """`LinkStore` in dicts (replay, tests)."""

    addresses: dict[Address, AddressState] = field(default_factory=dict)
    devices: dict[str, DeviceState] = field(default_factory=dict)
    alerts: set[str] = field(default_factory=set)

    def address(self, address: Address) -> AddressState | None:
        return self.addresses.get(address)

    def put_address(self, state: AddressState) -> None:
        self.addresses[state.address] = state

    def device(self, device_id: str) -> DeviceState | None:
        return self.devices.get(device_id)

    def put_device(self, state: DeviceState) -> None:
        self.devices[state.device_id] = state

    def raised(self, alert_id: str) -> bool:
        return alert_id in self.alerts

    def mark_raised(self, alert_id: str) -> None:
        self.alerts.add(alert_id)


class LinkProcessor:
    """Applies wallet-side facts to a `LinkStore` and returns the alerts they raise."""

    def __init__(self, exposure: ExposureModel, links: LinkModel, store: LinkStore) -> None:
        self.exposure = exposure
        self.links = links
        self.store = store

    def _state(self, address: Address) -> AddressState:
        return self.store.address(address) or AddressState(address)

    def _new(self, alerts: Iterable[Alert]) -> list[Alert]:
        out: list[Alert] = []
        for alert in alerts:
            if not self.store.raised(alert.alert_id):
                self.store.mark_raised(alert.alert_id)
                out.append(alert)
        return out

    def _matches(self, matches: Iterable[PayoutMatch]) -> list[Alert]:
        return self._new(sanctions_alert(m) for m in matches)

    def payout(self, p: PayoutEvent) -> list[Alert]:
        """Screen a payout to a wallet: sanctions screening and shared-wallet checks."""
        old = self._state(p.wallet)
        state = self.exposure.add_payout(old, p)
        if state is old:
            return []
        self.store.put_address(state)
        lookup = self.store.address
        match = self.exposure.match_payout(lookup, p)
        alerts = self._matches(() if match is None else (match,))
        # Shared-wallet alerts change only with the set of workers paid to the wallet
        # (their ids are type, worker and wallet): skip the check for a known worker.
        if all(q.worker_id != p.worker_id for q in old.payouts):
            alerts += self._new(self.links.wallet_alerts(self.exposure, state))
        # A wallet's first payout makes it a payout wallet: its earlier transfers now count.
        targets = {e.recipient for e in state.sent} if len(old.payouts) == 0 else set()
        for target in sorted(targets):
            alerts += self._new(self.links.consolidation_alerts(self.exposure, lookup, target))
        return alerts

    def transfer(self, t: TransferEvent) -> list[Alert]:
        """Apply a transfer between two addresses: new links to listed addresses, consolidation."""
        changed = False
        for address in {t.sender, t.recipient}:
            old = self._state(address)
            new = self.exposure.add_transfer(old, t)
            if new is not old:
                self.store.put_address(new)
                changed = True
        if not changed:
            return []
        lookup = self.store.address
        alerts = self._matches(self.exposure.matches_after_transfer(lookup, t))
        alerts += self._new(self.links.consolidation_alerts(self.exposure, lookup, t.recipient))
        return alerts

    def sanction(self, entry: SanctionEntry) -> list[Alert]:
        """Apply a sanctions-list entry: payouts it makes sanctioned or linked (or retroactive)."""
        old = self._state(entry.address)
        new = self.exposure.add_listing(old, entry)
        if new is old:
            return []
        self.store.put_address(new)
        return self._matches(self.exposure.matches_after_listing(self.store.address, entry.address))

    def sighting(self, x: DeviceSighting) -> list[Alert]:
        """Record a worker seen with a device: several workers on one device."""
        old = self.store.device(x.device_id) or DeviceState(x.device_id)
        new = self.links.add_sighting(old, Sighting(x.worker_id, x.at, x.event_id))
        if new is old:
            return []
        self.store.put_device(new)
        return self._new(self.links.device_alerts(new))

    def exposure_of(self, address: Address) -> dict[str, object]:
        """Answer the pre-payout check: listed, linked (with the path), workers paid to it."""
        state = self.store.address(address)
        body = self.exposure.assess(self.store.address, address).to_json()
        payouts = () if state is None else state.payouts
        body["workers"] = sorted({p.worker_id for p in payouts})
        body["payouts_seen"] = len(payouts)
        return body
