"""Values of the wallet graph: edges, listings, payouts, paths, exposures."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from reputation.events import Address, TransferEvent, format_time

__all__ = [
    "EPOCH",
    "EXPOSURE_STATE_VERSION",
    "NEVER",
    "AddressState",
    "Direction",
    "Edge",
    "Exposure",
    "Hop",
    "ListEvent",
    "Listing",
    "Lookup",
    "MatchKind",
    "Path",
    "PayoutMatch",
    "PayoutRef",
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

    def to_json(self) -> dict[str, object]:
        """Return the JSON form of the exposure route."""
        return {
            "address": self.address,
            "listed": self.listed,
            "linked": self.linked,
            "listing": None if self.listing is None else listing_to_json(self.listing),
            "path": None if self.path is None else self.path.to_json(),
            "listed_at": None if self.listed_at is None else format_time(self.listed_at),
            "service_or_hub": self.barrier,
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

    def to_json(self) -> dict[str, object]:
        """Return the JSON form used in alert evidence."""
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
        }


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
