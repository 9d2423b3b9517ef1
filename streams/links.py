"""The wallet side of the engine: payouts, transfers, sanctions entries and device sightings.

Every fact that joins workers through wallets and devices, or wallets to a
sanctions list, goes through one `LinkProcessor`. On Kafka it runs in the
process that owns the single partition of ``{prefix}links`` (the worker agent
forwards payouts and new device sightings there; the router forwards transfers
and sanctions entries); in ``vigil replay`` it runs in line. State lives behind
`LinkStore`: Faust tables on Kafka, dicts in replay.

The logic is in `reputation.exposure` and `reputation.links`; this module only
reads state, calls them, writes state back and says which alerts are new.

Hubs are recognised from their traffic, so an alert can be raised through an
address before it has enough counterparties to be one. The processor keeps,
per inner address of a raised alert's path (and per shared address of a
``SHARED_WALLET``), a small index of those alerts; when a transfer makes the
address a hub, it re-checks them with the pure `ExposureModel.revalidate` and
`LinkModel.revalidate_shared`, raises what now applies instead, and queues a
`WalletWithdrawal` for each alert that no longer stands (`take_withdrawals`). Hub
status only grows, so after the re-check the standing alerts are those the
final graph gives, whatever the arrival order (``config/README.md`` lists
the residual). The list is the other half: a delisting is the only list change
that can end a match (it closes an episode), so when one arrives, every raised
sanctions alert of a paid wallet near the address is re-checked
(`ExposureModel.revalidate_delisting`) and withdrawn if the listing was not in
force when it mattered, e.g. a listing that arrived before its delisting and a
transfer made after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from reputation.alerts import Alert, make_alert_id, sanctions_alert
from reputation.events import (
    Address,
    PayoutEvent,
    SanctionEntry,
    TransferEvent,
    format_time,
    parse_time,
)
from reputation.exposure.graph import AddressState, LinkClaim, MatchKind, PayoutMatch, Revalidation
from reputation.exposure.search import ExposureModel
from reputation.links import DeviceState, LinkModel, Sighting

__all__ = [
    "MAX_INDEXED",
    "DeviceSighting",
    "LinkProcessor",
    "LinkStore",
    "MemoryLinkStore",
    "WalletWithdrawal",
    "parse_sighting",
]

#: Raised alerts indexed per address (the earliest kept). An address reaches the hub
#: threshold with at most ``hub_degree`` counterparties, so this is rarely reached.
MAX_INDEXED = 512


@dataclass(frozen=True, slots=True)
class WalletWithdrawal:
    """A wallet-side alert raised earlier that no longer stands: its path now runs through a hub.

    It repeats the alert's identity (id, kind, type, worker, wallet,
    ``detected_at``); ``at`` is the event time of the transfer that made the
    address a hub; ``revalidation`` says why (``path stopped at hub: N
    distinct counterparties``) and what the payout matches now.
    """

    alert_id: str
    kind: str
    type: str
    worker_id: str | None
    wallet: Address | None
    detected_at: datetime
    at: datetime
    revalidation: Revalidation

    @property
    def reason(self) -> str:
        """Why the alert no longer stands, for a person."""
        return self.revalidation.reason

    def to_json(self) -> dict[str, object]:
        """Return the ``vigil.alerts`` record of the withdrawal (``"status": "withdrawn"``)."""
        return {
            "alert_id": self.alert_id,
            "kind": self.kind,
            "type": self.type,
            "severity": "low",
            "worker_id": self.worker_id,
            "wallet": self.wallet,
            "detected_at": format_time(self.detected_at),
            "status": "withdrawn",
            "reason": self.reason,
            "evidence": {"withdrawn": self.reason, "at": format_time(self.at),
                         "revalidation": self.revalidation.to_json()},
            "event_ids": [],
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class DeviceSighting:
    """A worker seen with a device for the first time (forwarded by the worker side)."""

    worker_id: str
    device_id: str
    at: datetime
    event_id: str

    def to_json(self) -> dict[str, object]:
        """Return the forwarded record."""
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

    def raised_at(self, alert_id: str) -> str | None:
        """Return the ``detected_at`` an alert id was raised with ("" if not known), or None."""

    def mark_raised(self, alert_id: str, detected_at: str = "") -> None:
        """Remember that an alert id was raised, with its ``detected_at``."""

    def unmark_raised(self, alert_id: str) -> None:
        """Forget that an alert id was raised (it was withdrawn; it may be raised again)."""

    def indexed(self, address: Address) -> list[list[object]]:
        """Return the raised alerts indexed under an address (compact records)."""

    def put_indexed(self, address: Address, entries: list[list[object]]) -> None:
        """Store the raised alerts indexed under an address (empty: drop the entry)."""


@dataclass
class MemoryLinkStore:
    """`LinkStore` in dicts (replay, tests)."""

    addresses: dict[Address, AddressState] = field(default_factory=dict)
    devices: dict[str, DeviceState] = field(default_factory=dict)
    alerts: dict[str, str] = field(default_factory=dict)
    index: dict[Address, list[list[object]]] = field(default_factory=dict)

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

    def raised_at(self, alert_id: str) -> str | None:
        return self.alerts.get(alert_id)

    def mark_raised(self, alert_id: str, detected_at: str = "") -> None:
        self.alerts[alert_id] = detected_at

    def unmark_raised(self, alert_id: str) -> None:
        self.alerts.pop(alert_id, None)

    def indexed(self, address: Address) -> list[list[object]]:
        return list(self.index.get(address, ()))

    def put_indexed(self, address: Address, entries: list[list[object]]) -> None:
        if entries:
            self.index[address] = list(entries)
        else:
            self.index.pop(address, None)


class LinkProcessor:
    """Applies wallet-side facts to a `LinkStore` and returns the alerts they raise."""

    def __init__(self, exposure: ExposureModel, links: LinkModel, store: LinkStore) -> None:
        self.exposure = exposure
        self.links = links
        self.store = store
        self.withdrawals: list[WalletWithdrawal] = []

    def take_withdrawals(self) -> list[WalletWithdrawal]:
        """Return the withdrawals found since the last call, and forget them."""
        out, self.withdrawals = self.withdrawals, []
        return out

    def _state(self, address: Address) -> AddressState:
        return self.store.address(address) or AddressState(address)

    def _new(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Return the alerts not raised before, and those found earlier in event time.

        An alert's id names its episode (type, worker, wallet); its ``detected_at``
        is the earliest event time at which it holds. A payout processed after a
        later one of the same episode (arrival order is not event order) lowers
        it: the alert is sent again under the same id with the earlier time, so
        the latest record of each id is the same whatever the order.
        """
        out: list[Alert] = []
        for alert in alerts:
            when = format_time(alert.detected_at)
            before = self.store.raised_at(alert.alert_id)
            if before is None:
                self.store.mark_raised(alert.alert_id, when)
                self._index(alert)
                out.append(alert)
            elif before and alert.detected_at < parse_time(before, "detected_at"):
                self.store.mark_raised(alert.alert_id, when)
                out.append(alert)
        return out

    def _index(self, alert: Alert) -> None:
        """Remember a raised alert under the addresses that could still turn into hubs."""
        head: list[object] = [
            alert.alert_id,
            alert.type,
            alert.worker_id,
            alert.wallet,
            alert.kind,
            format_time(alert.detected_at),
        ]
        if alert.type == "SHARED_WALLET":
            relation = "paid_to" if "paid_to" in alert.evidence else "forwarded_to"
            shared = alert.evidence.get(relation)
            targets = [Address(str(shared))] if shared else []
            record = [*head, "shared", relation]
        elif alert.kind == "sanctions" and alert.evidence.get("path") is not None:
            claim = LinkClaim.from_evidence(alert.evidence)
            targets = list(claim.inner)
            record = [*head, "link", *claim.to_json()]
        else:
            return
        self._put_index(targets, record)

    def _put_index(self, targets: Iterable[Address], record: list[object]) -> None:
        alert_id = record[0]
        for address in targets:
            if self.exposure.is_barrier(address, self.store.address(address)):
                continue
            entries = self.store.indexed(address)
            if len(entries) < MAX_INDEXED and all(e[0] != alert_id for e in entries):
                self.store.put_indexed(address, [*entries, record])

    def _recheck(self, address: Address, at: datetime) -> list[Alert]:
        """Re-check the alerts raised through `address`, which just became a hub."""
        entries = self.store.indexed(address)
        if not entries:
            return []
        self.store.put_indexed(address, [])
        lookup = self.store.address
        alerts: list[Alert] = []
        for e in entries:
            alert_id, alert_type = str(e[0]), str(e[1])
            worker_id = None if e[2] is None else str(e[2])
            wallet = None if e[3] is None else Address(str(e[3]))
            kind, detected_at = str(e[4]), parse_time(e[5], "detected_at")
            if not self.store.raised(alert_id):
                continue
            if e[6] == "shared":
                raised = Alert(
                    alert_id=alert_id,
                    kind="drift",
                    type=alert_type,
                    severity="high",
                    worker_id=worker_id,
                    wallet=wallet,
                    detected_at=detected_at,
                    evidence={str(e[7]): address},
                    event_ids=(),
                )
                verdict = self.links.revalidate_shared(self.exposure, lookup, raised)
            else:
                claim = LinkClaim.from_json(e[7:])
                verdict = self.exposure.revalidate(lookup, claim)
                # What the payouts of this worker to this wallet match now (maybe another kind).
                alerts += self._matches(
                    m
                    for m in self.exposure.rescreen(lookup, [claim.wallet])
                    if m.worker_id == claim.worker_id
                )
            current = verdict.current
            if verdict.status == "valid" and current is not None and current.path is not None:
                # Another path holds it now: watch that path's inner addresses instead.
                again = LinkClaim.from_match(current)
                self._put_index(again.inner, [*e[:6], "link", *again.to_json()])
            if verdict.status == "withdraw":
                self.store.unmark_raised(alert_id)
                self.withdrawals.append(
                    WalletWithdrawal(
                        alert_id, kind, alert_type, worker_id, wallet, detected_at, at, verdict
                    )
                )
        return alerts

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
        # (their ids are type, worker and wallet) and with each worker's first payout
        # to it (their detected_at): skip the check for a later payout of a known worker.
        new_worker = all(q.worker_id != p.worker_id for q in old.payouts)
        earliest = new_worker or all(
            (q.paid_at, q.event_id) > (p.paid_at, p.event_id)
            for q in old.payouts
            if q.worker_id == p.worker_id
        )
        if earliest:
            alerts += self._new(self.links.wallet_alerts(self.exposure, state))
        # A wallet's first payout to a worker ties that worker to where the wallet sent
        # funds before: its earlier transfers now count for the worker.
        targets = {e.recipient for e in state.sent} if new_worker else set()
        for target in sorted(targets):
            alerts += self._new(self.links.consolidation_alerts(self.exposure, lookup, target))
        return alerts

    def transfer(self, t: TransferEvent) -> list[Alert]:
        """Apply a transfer between two addresses: new links to listed addresses, consolidation.

        When the transfer makes its sender or recipient a hub, the alerts
        raised through that address are re-checked (`take_withdrawals`).
        """
        changed = False
        became_hub: list[Address] = []
        for address in sorted({t.sender, t.recipient}):
            old = self._state(address)
            new = self.exposure.add_transfer(old, t)
            if new is not old:
                self.store.put_address(new)
                changed = True
                if self.exposure.is_barrier(address, new) and not self.exposure.is_barrier(
                    address, old
                ):
                    became_hub.append(address)
        if not changed:
            return []
        lookup = self.store.address
        alerts: list[Alert] = []
        for address in became_hub:
            alerts += self._recheck(address, t.block_time)
        alerts += self._matches(self.exposure.matches_after_transfer(lookup, t))
        alerts += self._new(self.links.consolidation_alerts(self.exposure, lookup, t.recipient))
        return alerts

    def sanction(self, entry: SanctionEntry) -> list[Alert]:
        """Apply a sanctions-list entry: payouts it makes sanctioned or linked (or retroactive)."""
        old = self._state(entry.address)
        new = self.exposure.add_listing(old, entry)
        if new is old:
            return []
        self.store.put_address(new)
        lookup = self.store.address
        alerts = self._matches(self.exposure.matches_after_listing(lookup, entry.address))
        if entry.delisted:
            self._recheck_delisted(entry.address, entry.listed_at)
        return alerts

    def _recheck_delisted(self, listed: Address, at: datetime) -> None:
        """Withdraw the sanctions alerts that a delisting of `listed` shows never held.

        Only a delisting can shrink what a listing matches (it closes an
        episode); every raised sanctions alert of a paid wallet near `listed` is
        re-checked with the pure `ExposureModel.revalidate_delisting`.
        Alert ids are (type, worker, wallet), so no index is needed.
        """
        lookup = self.store.address
        for wallet in sorted(self.exposure.paid_wallets_near(lookup, listed)):
            state = lookup(wallet)
            workers = sorted({p.worker_id for p in (() if state is None else state.payouts)})
            for worker_id in workers:
                for kind in MatchKind:
                    alert_id = make_alert_id(str(kind), worker_id, wallet)
                    raised = self.store.raised_at(alert_id)
                    if raised is None:
                        continue
                    verdict = self.exposure.revalidate_delisting(
                        lookup, listed, worker_id, wallet, kind
                    )
                    if verdict.status != "withdraw":
                        continue
                    self.store.unmark_raised(alert_id)
                    detected = parse_time(raised, "detected_at") if raised else at
                    self.withdrawals.append(
                        WalletWithdrawal(
                            alert_id,
                            "sanctions",
                            str(kind),
                            worker_id,
                            wallet,
                            detected,
                            at,
                            verdict,
                        )
                    )

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
        # None seen: the wallet's graph was never followed (a decision's coverage is partial).
        body["transfers_seen"] = 0 if state is None else len(state.sent) + len(state.received)
        return body
