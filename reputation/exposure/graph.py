"""Values of the wallet graph: edges, listings, payouts, paths, exposures."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal, cast

from reputation.events import Address, TransferEvent, format_time
from reputation.exposure.services import Barrier

__all__ = [
    "EPOCH",
    "EXPOSURE_STATE_VERSION",
    "NEVER",
    "AddressState",
    "Direction",
    "Edge",
    "Exposure",
    "Hop",
    "LinkClaim",
    "ListEvent",
    "Listing",
    "Lookup",
    "MatchKind",
    "Path",
    "PayoutMatch",
    "PayoutRef",
    "Revalidation",
    "address_hash64",
    "edge_from_transfer",
    "listing_to_json",
]

EXPOSURE_STATE_VERSION = 1
Direction = Literal["to_listed", "from_listed"]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEVER = datetime(9999, 12, 31, tzinfo=UTC)


class MatchKind(StrEnum):
    """Alert type of a payout that touches a listed address."""

    SANCTIONED_PAYOUT = "SANCTIONED_PAYOUT"
    SANCTIONED_LINKED_PAYOUT = "SANCTIONED_LINKED_PAYOUT"
    RETROACTIVE_MATCH = "RETROACTIVE_MATCH"


@dataclass(frozen=True, slots=True)
class Edge:
    """One transfer of value, as kept in the state of its sender and its recipient."""

    event_id: str
    sender: Address
    recipient: Address
    token: str
    amount: int
    decimals: int
    at: datetime
    chain_id: int

    @property
    def key(self) -> tuple[datetime, str]:
        """Recency order; ``event_id`` breaks ties, so the order is total."""
        return (self.at, self.event_id)


@dataclass(frozen=True, slots=True)
class ListEvent:
    """One list change of an address: listed (or delisted) from `at` on."""

    at: datetime
    delisted: bool
    program: str
    entity: str
    source: str

    @property
    def key(self) -> tuple[datetime, bool]:
        """Time order; at equal times the delisting comes last and wins."""
        return (self.at, self.delisted)


@dataclass(frozen=True, slots=True)
class Listing:
    """One listing episode: listed from `listed_at` until `delisted_at` (None: still listed)."""

    listed_at: datetime
    delisted_at: datetime | None
    program: str
    entity: str
    source: str

    def in_force(self, at: datetime) -> bool:
        """Tell whether the listing applied at `at`."""
        return self.listed_at <= at < (self.delisted_at or NEVER)


@dataclass(frozen=True, slots=True)
class PayoutRef:
    """A payout as remembered by the wallet that received it."""

    event_id: str
    worker_id: str
    paid_at: datetime
    asset: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AddressState:
    """Everything exposure keeps about one address; the caller stores it.

    ``sent`` and ``received`` are sorted oldest first and hold at most
    ``max_edges`` transfers each; ``list_events`` holds the listings and
    delistings seen, oldest first; ``counterparties`` holds the smallest 64-bit
    hashes of the distinct counterparties (a k-minimum-values sketch).
    """

    address: Address
    sent: tuple[Edge, ...] = ()
    received: tuple[Edge, ...] = ()
    list_events: tuple[ListEvent, ...] = ()
    payouts: tuple[PayoutRef, ...] = ()
    counterparties: tuple[int, ...] = ()


Lookup = Callable[[Address], AddressState | None]


@dataclass(frozen=True, slots=True)
class Hop:
    """One hop of a path in the direction the value moved, with its earliest transfer."""

    sender: Address
    recipient: Address
    event_id: str
    token: str
    amount: int
    decimals: int
    at: datetime
    chain_id: int
    transfers: int

    def to_json(self) -> dict[str, object]:
        """Return the JSON form used in alert evidence."""
        return {
            "from": self.sender,
            "to": self.recipient,
            "event_id": self.event_id,
            "token": self.token,
            "amount": str(self.amount),
            "decimals": self.decimals,
            "at": format_time(self.at),
            "chain_id": self.chain_id,
            "transfers": self.transfers,
        }


@dataclass(frozen=True, slots=True)
class Path:
    """A chain of transfers between a wallet and a listed address.

    `share` is the fraction of value that moved along it: of the wallet's
    outflow that reached the listed address (``to_listed``) or of its inflow
    that came from it (``from_listed``), pro rata per hop over the kept edges.
    """

    direction: Direction
    wallet: Address
    listed: Address
    hops: tuple[Hop, ...]
    linked_at: datetime
    share: float

    def to_json(self) -> dict[str, object]:
        """Return the JSON form used in alert evidence."""
        return {
            "direction": self.direction,
            "wallet": self.wallet,
            "listed": self.listed,
            "hops": [h.to_json() for h in self.hops],
            "n_hops": len(self.hops),
            "linked_at": format_time(self.linked_at),
            "share": self.share,
        }


@dataclass(frozen=True, slots=True)
class Exposure:
    """The answer to "is this wallet listed or linked?" at one time (or now)."""

    address: Address
    listed: bool
    listing: Listing | None
    linked: bool
    path: Path | None
    listed_at: datetime | None
    barrier: bool
    truncated: bool
    barrier_reason: Barrier | None = None
    stopped: tuple[Barrier, ...] = ()

    def to_json(self) -> dict[str, object]:
        """Return the JSON form of the exposure route.

        ``barrier`` says why the address itself is a service or hub;
        ``stopped_at`` lists the services and hubs next to the wallet's paths
        where the search stopped, with the reason for each.
        """
        return {
            "address": self.address,
            "listed": self.listed,
            "linked": self.linked,
            "listing": None if self.listing is None else listing_to_json(self.listing),
            "path": None if self.path is None else self.path.to_json(),
            "listed_at": None if self.listed_at is None else format_time(self.listed_at),
            "service_or_hub": self.barrier,
            "barrier": None if self.barrier_reason is None else self.barrier_reason.to_json(),
            "stopped_at": [b.to_json() for b in self.stopped],
            "truncated": self.truncated,
        }


@dataclass(frozen=True, slots=True)
class PayoutMatch:
    """A payout that touches a listed address, with the times that decide its kind.

    `matched_at` is when the wallet became listed or linked (the later of the
    listing and the path's last hop); a ``RETROACTIVE_MATCH`` has it after
    `paid_at`. `path` is None for a payout straight to a listed address.
    """

    kind: MatchKind
    payout_event_id: str
    worker_id: str
    wallet: Address
    paid_at: datetime
    listed_address: Address
    listed_at: datetime
    matched_at: datetime
    program: str
    entity: str
    path: Path | None
    stopped: tuple[Barrier, ...] = ()

    def to_json(self) -> dict[str, object]:
        """Return the JSON form used in alert evidence.

        ``stopped_at`` names the services and hubs where other paths from the
        wallet stopped (they are not links), with the reason for each.
        """
        return {
            "kind": str(self.kind),
            "payout_event_id": self.payout_event_id,
            "worker_id": self.worker_id,
            "wallet": self.wallet,
            "paid_at": format_time(self.paid_at),
            "listed_address": self.listed_address,
            "listed_at": format_time(self.listed_at),
            "matched_at": format_time(self.matched_at),
            "program": self.program,
            "entity": self.entity,
            "path": None if self.path is None else self.path.to_json(),
            "stopped_at": [b.to_json() for b in self.stopped],
        }


@dataclass(frozen=True, slots=True)
class LinkClaim:
    """What a raised sanctions alert asserted, in enough detail to re-check it later.

    ``nodes`` runs from the payout wallet to the listed address in search
    order (``to_listed``: the flow's order; ``from_listed``: against it);
    ``(wallet,)`` for a payout straight to a listed address.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> c = LinkClaim(MatchKind.SANCTIONED_LINKED_PAYOUT, "w-1", Address("0x" + "1" * 40),
    ...     "p-1", datetime(2026, 1, 1, tzinfo=UTC), ("0x" + "1" * 40, "0x" + "2" * 40))
    >>> LinkClaim.from_json(c.to_json()) == c, c.inner
    (True, ())
    """

    kind: MatchKind
    worker_id: str
    wallet: Address
    payout_event_id: str
    paid_at: datetime
    nodes: tuple[str, ...]

    @property
    def inner(self) -> tuple[Address, ...]:
        """The path's inner addresses: where a service or hub would break it."""
        return tuple(Address(a) for a in self.nodes[1:-1])

    @classmethod
    def from_match(cls, m: PayoutMatch) -> LinkClaim:
        """Return the claim of a payout match."""
        nodes: tuple[str, ...] = (m.wallet,)
        if m.path is not None:
            flow = [h.sender for h in m.path.hops] + [m.path.hops[-1].recipient]
            nodes = tuple(flow if m.path.direction == "to_listed" else reversed(flow))
        return cls(m.kind, m.worker_id, m.wallet, m.payout_event_id, m.paid_at, nodes)

    @classmethod
    def from_evidence(cls, evidence: Mapping[str, object]) -> LinkClaim:
        """Return the claim of a raised sanctions alert, from its evidence (`PayoutMatch`)."""
        path = evidence.get("path")
        wallet = Address(str(evidence["wallet"]))
        nodes: tuple[str, ...] = (wallet,)
        if isinstance(path, Mapping):
            hops = cast(list[Mapping[str, object]], path["hops"])
            flow = [str(h["from"]) for h in hops] + [str(hops[-1]["to"])]
            nodes = tuple(flow if path["direction"] == "to_listed" else reversed(flow))
        return cls(
            MatchKind(str(evidence["kind"])),
            str(evidence["worker_id"]),
            wallet,
            str(evidence["payout_event_id"]),
            _parse_time(str(evidence["paid_at"])),
            nodes,
        )

    def to_json(self) -> list[object]:
        """Return a compact JSON form (kept by the engine while the alert may be withdrawn)."""
        return [
            str(self.kind),
            self.worker_id,
            self.wallet,
            self.payout_event_id,
            format_time(self.paid_at),
            *self.nodes,
        ]

    @classmethod
    def from_json(cls, rec: Sequence[object]) -> LinkClaim:
        """Return the claim of a record written by `to_json`."""
        return cls(
            MatchKind(str(rec[0])),
            str(rec[1]),
            Address(str(rec[2])),
            str(rec[3]),
            _parse_time(str(rec[4])),
            tuple(str(a) for a in rec[5:]),
        )


@dataclass(frozen=True, slots=True)
class Revalidation:
    """Whether an alert raised earlier still stands on the current graph.

    ``status``: ``valid`` (its condition still holds, maybe by another path),
    ``withdraw`` (a service or hub now sits on its path or is its shared
    address: ``barrier`` says which and why), or ``unverifiable`` (the
    evidence has aged out of bounded state; keep the alert). ``current`` is
    the payout's match now, if any: after a withdrawal it may be another kind.
    """

    status: Literal["valid", "withdraw", "unverifiable"]
    reason: str
    barrier: Barrier | None = None
    current: PayoutMatch | None = None

    def to_json(self) -> dict[str, object]:
        """Return the JSON form (for a withdrawal's evidence)."""
        return {
            "status": self.status,
            "reason": self.reason,
            "barrier": None if self.barrier is None else self.barrier.to_json(),
            "current": None if self.current is None else self.current.to_json(),
        }


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def edge_from_transfer(t: TransferEvent) -> Edge | None:
    """Return the graph edge of a transfer, or None for a self- or zero-value transfer."""
    if t.amount <= 0 or t.sender == t.recipient:
        return None
    return Edge(
        t.event_id, t.sender, t.recipient, t.token, t.amount, t.decimals, t.block_time, t.chain_id
    )


def address_hash64(address: str) -> int:
    """Return a 64-bit hash of an address (for the counterparty sketch)."""
    return int.from_bytes(hashlib.blake2b(address.encode(), digest_size=8).digest(), "big")


def listing_to_json(x: Listing) -> dict[str, object]:
    """Return the JSON form of a listing episode (for evidence and records)."""
    return {
        "listed_at": format_time(x.listed_at),
        "delisted_at": None if x.delisted_at is None else format_time(x.delisted_at),
        "program": x.program,
        "entity": x.entity,
        "source": x.source,
    }
