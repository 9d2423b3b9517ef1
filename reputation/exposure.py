"""Sanctions exposure of wallets over a bounded, order-free transfer graph.

State is one small `AddressState` per address (its recent transfers in each
direction, its listing episodes, the payouts it received and a sketch of how
many counterparties it has). The engine keeps it in a table keyed by address;
replay keeps it in a dict. Searches read it through a ``lookup`` callable, so
the same code runs over both.

Every update is a join: the state after a set of transfers, payouts and list
entries is the same whatever order they arrive in, and a redelivered one
(same ``event_id``) changes nothing. Bounds: per address at most
``max_edges`` transfers per direction (the most recent ones), ``max_payouts``
payouts and ``max_listings`` list events, so state is O(1) per address;
a search visits at most ``max_visited`` addresses.

A wallet is *linked* when a chain of at most ``max_hops`` transfers, all in one
direction, joins it to a listed address: its funds reached the listed address
(``to_listed``) or the listed address's funds reached it (``from_listed``).
Known service addresses (exchanges, bridges) and hubs (more than
``hub_degree`` distinct counterparties, estimated with a k-minimum-values
sketch) never sit *inside* such a path, as commercial tracing follows only
unhosted wallets; service addresses also keep no edges of their own.
Zero-value transfers are ignored: anyone can forge one from any address
("address poisoning").

Point in time: a path exists from the time of its latest hop (its
``linked_at``); an address is listed from ``listed_at`` until ``delisted_at``.
A payout at ``paid_at`` is a ``SANCTIONED_PAYOUT`` when its wallet was listed
then, a ``SANCTIONED_LINKED_PAYOUT`` when it was linked then, and a
``RETROACTIVE_MATCH`` when the wallet became listed or linked only later
(while the listing was in force). A delisting ends alerts for payouts after
it and keeps those before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal, cast

from reputation.errors import ConfigError, ReputationError
from reputation.events import Address, PayoutEvent, SanctionEntry, TransferEvent, format_time

__all__ = [
    "EXPOSURE_STATE_VERSION",
    "AddressState",
    "Direction",
    "Edge",
    "Exposure",
    "ExposureModel",
    "Hop",
    "ListEvent",
    "Listing",
    "Lookup",
    "MatchKind",
    "Path",
    "PayoutMatch",
    "PayoutRef",
    "edge_from_transfer",
    "exposure_state_from_record",
    "exposure_state_to_record",
]

EXPOSURE_STATE_VERSION = 1
Direction = Literal["to_listed", "from_listed"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)


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
        return self.listed_at <= at < (self.delisted_at or _NEVER)


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
            "listing": None if self.listing is None else _listing_json(self.listing),
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


def _hash64(address: str) -> int:
    return int.from_bytes(hashlib.blake2b(address.encode(), digest_size=8).digest(), "big")


def _listing_json(x: Listing) -> dict[str, object]:
    return {
        "listed_at": format_time(x.listed_at),
        "delisted_at": None if x.delisted_at is None else format_time(x.delisted_at),
        "program": x.program,
        "entity": x.entity,
        "source": x.source,
    }


@dataclass(frozen=True, slots=True)
class _Label:
    time: datetime  # latest hop so far: when this path came to exist
    nodes: tuple[Address, ...]  # from the search's start

    @property
    def rank(self) -> tuple[datetime, tuple[Address, ...]]:
        return (self.time, self.nodes)


@dataclass(frozen=True, slots=True)
class _Reach:
    labels: Mapping[Address, tuple[_Label, ...]]  # per address: fewer hops first, earlier after
    truncated: bool


@dataclass(frozen=True, slots=True)
class ExposureModel:
    """Hyperparameters of exposure, and the updates and searches over `AddressState`.

    Parameters
    ----------
    max_hops
        A wallet within this many transfers of a listed address is linked (N).
    max_edges
        Transfers kept per address and direction: the most recent ones. Memory
        is about 300 bytes per kept transfer, twice (sender and recipient).
    max_payouts, max_listings
        Payouts and listings/delistings kept per address (the most recent ones).
    hub_degree
        An address with more distinct counterparties than this (estimated to
        about 12 %) is a hub and is never a path's inner hop.
    sketch_size
        Size of the k-minimum-values sketch that counts counterparties.
    max_visited
        Addresses one search may touch; beyond it results say ``truncated``.
    services
        Known service addresses (exchanges, bridges): never inner hops, no edges kept.

    Examples
    --------
    >>> from reputation.events import parse_sanction, parse_transfer
    >>> m = ExposureModel()
    >>> w, x, s = "0x" + "1" * 40, "0x" + "2" * 40, "0x" + "3" * 40
    >>> def transfer(i, a, b):
    ...     return parse_transfer({"event_id": f"1:0x{i:064x}:0", "chain_id": 1,
    ...         "block_number": i, "block_time": f"2026-01-0{i}T00:00:00Z",
    ...         "tx_hash": f"0x{i:064x}", "log_index": 0, "token": "ETH",
    ...         "from": a, "to": b, "amount": "1000", "decimals": 18})
    >>> db = {}
    >>> for t in (transfer(1, w, x), transfer(2, x, s)):
    ...     for a in (t.sender, t.recipient):
    ...         db[a] = m.add_transfer(db.get(a) or AddressState(a), t)
    >>> db[s] = m.add_listing(db[s], parse_sanction({"address": s, "program": "DPRK3",
    ...     "entity": "LAZARUS GROUP", "listed_at": "2022-04-14T00:00:00Z", "source": "OFAC SDN"}))
    >>> e = m.assess(db.get, w)
    >>> e.linked, [(h.sender[:4], h.recipient[:4]) for h in e.path.hops], e.path.share
    (True, [('0x11', '0x22'), ('0x22', '0x33')], 1.0)
    """

    max_hops: int = 2
    max_edges: int = 128
    max_payouts: int = 64
    max_listings: int = 16
    hub_degree: int = 200
    sketch_size: int = 64
    max_visited: int = 5000
    services: frozenset[Address] = frozenset()

    def __post_init__(self) -> None:
        for name in (
            "max_hops",
            "max_edges",
            "max_payouts",
            "max_listings",
            "hub_degree",
            "max_visited",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if self.max_hops > 6:
            raise ConfigError(f"max_hops must be <= 6, got {self.max_hops}")
        if not 8 <= self.sketch_size <= 1024:
            raise ConfigError(f"sketch_size must be within 8..1024, got {self.sketch_size}")
        if any(a != a.lower() for a in self.services):
            raise ConfigError("services must be lower-case addresses")

    # ----- updates -------------------------------------------------------------------------

    def add_transfer(self, s: AddressState, t: TransferEvent | Edge) -> AddressState:
        """Return `s` with the transfer on the side(s) where ``s.address`` takes part.

        Zero-value and self-transfers, transfers of service addresses' own
        state, and transfers already kept (same ``event_id``) change nothing.
        """
        edge = edge_from_transfer(t) if isinstance(t, TransferEvent) else t
        if edge is None or edge.amount <= 0 or edge.sender == edge.recipient:
            return s
        if s.address in self.services:
            return s
        if s.address not in (edge.sender, edge.recipient):
            return s
        sent, received = s.sent, s.received
        if edge.sender == s.address:
            sent = self._keep(sent, edge)
        if edge.recipient == s.address:
            received = self._keep(received, edge)
        other = edge.recipient if edge.sender == s.address else edge.sender
        sketch = self._sketch(s.counterparties, _hash64(other))
        if sent is s.sent and received is s.received and sketch is s.counterparties:
            return s
        return replace(s, sent=sent, received=received, counterparties=sketch)

    def _keep(self, edges: tuple[Edge, ...], e: Edge) -> tuple[Edge, ...]:
        if any(x.event_id == e.event_id for x in edges):
            return edges
        merged = sorted((*edges, e), key=lambda x: x.key)
        return tuple(merged[-self.max_edges :])

    def _sketch(self, sketch: tuple[int, ...], h: int) -> tuple[int, ...]:
        if h in sketch or (len(sketch) >= self.sketch_size and h > sketch[-1]):
            return sketch
        return tuple(sorted((*sketch, h))[: self.sketch_size])

    def add_payout(self, s: AddressState, p: PayoutEvent) -> AddressState:
        """Return `s` with a payout to it remembered (the `max_payouts` most recent are kept)."""
        if p.wallet != s.address or any(x.event_id == p.event_id for x in s.payouts):
            return s
        ref = PayoutRef(p.event_id, p.worker_id, p.paid_at, p.asset, p.amount)
        kept = sorted((*s.payouts, ref), key=lambda x: (x.paid_at, x.event_id))
        return replace(s, payouts=tuple(kept[-self.max_payouts :]))

    def add_listing(
        self, s: AddressState, entry: SanctionEntry, *, listed_since: datetime | None = None
    ) -> AddressState:
        """Return `s` with a sanctions entry merged into its list events.

        An entry takes effect at its ``listed_at``: a listing from then on, or,
        with ``delisted: true``, a delisting from then on (the convention of
        ``vigil sanctions load`` and the simulator). A delisting may also say
        since when the address had been listed (`listed_since`, or the
        entry's ``listed_since`` field once `SanctionEntry` has one), which
        keeps history when a compacted topic holds only the delisting. Events
        form a set keyed by (time, kind), so any arrival order and any
        redelivery give the same state.
        """
        if entry.address != s.address:
            return s
        text = (entry.program, entry.entity, entry.source)
        new = [ListEvent(entry.listed_at, entry.delisted, *text)]
        if entry.delisted:
            since = listed_since or cast(datetime | None, getattr(entry, "listed_since", None))
            if since is not None and since < entry.listed_at:
                new.append(ListEvent(since, False, *text))
        events = {x.key: x for x in s.list_events}
        for ev in new:
            old = events.get(ev.key)
            if old is not None and (old.program, old.entity, old.source) >= text:
                continue  # the larger text wins, whatever the order
            events[ev.key] = ev
        kept = tuple(sorted(events.values(), key=lambda x: x.key)[-self.max_listings :])
        return s if kept == s.list_events else replace(s, list_events=kept)

    def episodes(self, s: AddressState | None) -> tuple[Listing, ...]:
        """Return the listing episodes of an address, oldest first.

        An episode opens at a listing that follows a delisting (or nothing)
        and closes at the next delisting; a delisting of an address not
        listed then changes nothing.
        """
        out: list[Listing] = []
        start: ListEvent | None = None
        last: ListEvent | None = None
        for ev in () if s is None else s.list_events:
            if not ev.delisted:
                start, last = start or ev, ev
            elif start is not None and last is not None:
                out.append(Listing(start.at, ev.at, last.program, last.entity, last.source))
                start = last = None
        if start is not None and last is not None:
            out.append(Listing(start.at, None, last.program, last.entity, last.source))
        return tuple(out)

    # ----- reads ---------------------------------------------------------------------------

    def counterparties(self, s: AddressState) -> float:
        """Estimated number of distinct counterparties (exact below `sketch_size`)."""
        k = len(s.counterparties)
        if k < self.sketch_size:
            return float(k)
        return (k - 1) * 2.0**64 / (s.counterparties[-1] + 1)

    def is_barrier(self, address: Address, s: AddressState | None) -> bool:
        """Tell whether exposure stops at `address` (a known service or a hub)."""
        if address in self.services:
            return True
        return s is not None and self.counterparties(s) > self.hub_degree

    def listing_at(self, s: AddressState | None, at: datetime | None = None) -> Listing | None:
        """Return the listing in force at `at` (None: now, i.e. not delisted), if any."""
        for x in reversed(self.episodes(s)):
            if (x.delisted_at is None) if at is None else x.in_force(at):
                return x
        return None

    def _reach(
        self, lookup: Lookup, start: Address, side: Literal["sent", "received"], max_hops: int
    ) -> _Reach:
        """Minimax paths from `start` along `side` edges: for each hop count, the earliest time.

        A label at ``h`` hops is kept only if it is earlier than every label
        with fewer hops, so each address has at most `max_hops` labels.
        """
        best: dict[Address, datetime] = {start: _EPOCH}
        labels: dict[Address, list[_Label]] = {}
        frontier: dict[Address, _Label] = {start: _Label(_EPOCH, (start,))}
        truncated = False
        for hop in range(1, max_hops + 1):
            new: dict[Address, _Label] = {}
            n_seen = len(best)
            for u in sorted(frontier):
                state = lookup(u)
                if state is None or (hop > 1 and self.is_barrier(u, state)):
                    continue
                edges = state.sent if side == "sent" else state.received
                truncated = truncated or len(edges) >= self.max_edges
                first: dict[Address, datetime] = {}
                for e in edges:
                    v = e.recipient if side == "sent" else e.sender
                    if v not in first or e.at < first[v]:
                        first[v] = e.at
                label = frontier[u]
                for v in sorted(first):
                    if v in label.nodes:
                        continue
                    if v not in best and v not in new:
                        if n_seen >= self.max_visited:
                            truncated = True
                            continue
                    cand = _Label(max(label.time, first[v]), (*label.nodes, v))
                    if v in best and best[v] <= cand.time:
                        continue
                    if v not in new:
                        n_seen += v not in best
                        new[v] = cand
                    elif cand.rank < new[v].rank:
                        new[v] = cand
            for v, lab in new.items():
                best[v] = lab.time
                labels.setdefault(v, []).append(lab)
            frontier = new
            if not frontier:
                break
        return _Reach({k: tuple(v) for k, v in labels.items()}, truncated)

    def _path(self, lookup: Lookup, label: _Label, direction: Direction) -> Path:
        """Turn a search label into a `Path` with the hops' evidence and the value share."""
        nodes = label.nodes
        side: Literal["sent", "received"] = "sent" if direction == "to_listed" else "received"
        hops: list[Hop] = []
        share = 1.0
        for u, v in zip(nodes, nodes[1:], strict=False):
            state = lookup(u)
            edges = () if state is None else (state.sent if side == "sent" else state.received)
            pair = [e for e in edges if (e.recipient if side == "sent" else e.sender) == v]
            first = min(pair, key=lambda e: e.key)
            fractions = []
            for token in {e.token for e in pair}:
                total = sum(e.amount for e in edges if e.token == token)
                fractions.append(sum(e.amount for e in pair if e.token == token) / total)
            share *= max(fractions)
            hops.append(
                Hop(
                    first.sender,
                    first.recipient,
                    first.event_id,
                    first.token,
                    first.amount,
                    first.decimals,
                    first.at,
                    first.chain_id,
                    len(pair),
                )
            )
        if direction == "from_listed":
            hops.reverse()
        return Path(direction, nodes[0], nodes[-1], tuple(hops), label.time, share)

    def _candidates(
        self, lookup: Lookup, wallet: Address
    ) -> tuple[list[tuple[_Label, Direction, AddressState]], bool]:
        """Every (label, direction, listed state) reachable from `wallet` within `max_hops`."""
        found: list[tuple[_Label, Direction, AddressState]] = []
        truncated = False
        if wallet in self.services:
            return found, truncated
        for side, direction in (("sent", "to_listed"), ("received", "from_listed")):
            reach = self._reach(
                lookup, wallet, cast(Literal["sent", "received"], side), self.max_hops
            )
            truncated = truncated or reach.truncated
            for address in sorted(reach.labels):
                state = lookup(address)
                if state is not None and state.list_events:
                    for lab in reach.labels[address]:
                        found.append((lab, cast(Direction, direction), state))
        return found, truncated

    def assess(self, lookup: Lookup, address: Address, *, at: datetime | None = None) -> Exposure:
        """Tell whether `address` is listed or linked at `at` (None: now), with the shortest path.

        Among the shortest paths the earliest wins, then the smallest addresses,
        so the answer does not depend on arrival order.
        """
        state = lookup(address)
        listing = self.listing_at(state, at)
        found, truncated = self._candidates(lookup, address)
        best: tuple[int, datetime, Direction, tuple[Address, ...]] | None = None
        chosen: tuple[_Label, Direction, Listing] | None = None
        for lab, direction, target in found:
            x = self.listing_at(target, at)
            if x is None or (at is not None and lab.time > at):
                continue
            rank = (len(lab.nodes), max(lab.time, x.listed_at), direction, lab.nodes)
            if best is None or rank < best:
                best, chosen = rank, (lab, direction, x)
        path = None if chosen is None else self._path(lookup, chosen[0], chosen[1])
        return Exposure(
            address=address,
            listed=listing is not None,
            listing=listing,
            linked=path is not None,
            path=path,
            listed_at=None if chosen is None else chosen[2].listed_at,
            barrier=self.is_barrier(address, state),
            truncated=truncated,
        )

    def match_payout(
        self, lookup: Lookup, payout: PayoutRef | PayoutEvent, wallet: Address | None = None
    ) -> PayoutMatch | None:
        """Classify one payout against the current graph and list; None if it touches nothing.

        Listed at ``paid_at`` beats linked at ``paid_at``, which beats a later
        (retroactive) listing or link; within a kind, fewer hops win, then the
        earlier match.
        """
        if isinstance(payout, PayoutEvent):
            wallet = payout.wallet
            payout = PayoutRef(
                payout.event_id, payout.worker_id, payout.paid_at, payout.asset, payout.amount
            )
        if wallet is None:
            raise ReputationError("match_payout: wallet is required with a PayoutRef")
        t = payout.paid_at
        # (rank, listing, listed address, path label and direction or None for a direct match)
        options: list[
            tuple[
                tuple[int, int, datetime, tuple[Address, ...], str],
                Listing,
                Address,
                tuple[_Label, Direction] | None,
            ]
        ] = []
        state = lookup(wallet)
        for x in self.episodes(state):
            kind = 0 if x.in_force(t) else (2 if x.listed_at > t else -1)
            if kind >= 0:
                options.append(((kind, 0, x.listed_at, (wallet,), ""), x, wallet, None))
        found, _ = self._candidates(lookup, wallet)
        for lab, direction, target in found:
            for x in self.episodes(target):
                since = max(lab.time, x.listed_at)
                end = x.delisted_at or _NEVER
                if since >= end:
                    continue  # delisted before the path existed: never linked
                kind = 1 if since <= t < end else (2 if since > t else -1)
                if kind >= 0:
                    key: tuple[int, int, datetime, tuple[Address, ...], str] = (
                        kind,
                        len(lab.nodes) - 1,
                        since,
                        lab.nodes,
                        direction,
                    )
                    options.append((key, x, target.address, (lab, direction)))
        if not options:
            return None
        rank, x, listed, via = min(options, key=lambda o: o[0])
        path = None if via is None else self._path(lookup, via[0], via[1])
        kinds = (
            MatchKind.SANCTIONED_PAYOUT,
            MatchKind.SANCTIONED_LINKED_PAYOUT,
            MatchKind.RETROACTIVE_MATCH,
        )
        return PayoutMatch(
            kinds[rank[0]],
            payout.event_id,
            payout.worker_id,
            wallet,
            t,
            listed,
            x.listed_at,
            rank[2],
            x.program,
            x.entity,
            path,
        )

    def rescreen(self, lookup: Lookup, wallets: Iterable[Address]) -> tuple[PayoutMatch, ...]:
        """Classify every kept payout of `wallets`: the complete (and slower) re-check."""
        out: list[PayoutMatch] = []
        for wallet in sorted(set(wallets)):
            state = lookup(wallet)
            for p in () if state is None else state.payouts:
                m = self.match_payout(lookup, p, wallet)
                if m is not None:
                    out.append(m)
        return tuple(out)

    def _paid_near(
        self, lookup: Lookup, start: Address, side: Literal["sent", "received"], max_hops: int
    ) -> set[Address]:
        near = {start}
        if max_hops > 0:
            near |= set(self._reach(lookup, start, side, max_hops).labels)
        return {a for a in near if (s := lookup(a)) is not None and s.payouts}

    def matches_after_listing(self, lookup: Lookup, address: Address) -> tuple[PayoutMatch, ...]:
        """Payouts that a listing of `address` (already applied to its state) makes matches.

        Searches out from the listed address through its kept transfers; when
        it has more than `max_edges` in a direction, older counterparties are
        found only by `rescreen` of the paid wallets.
        """
        wallets = self._paid_near(lookup, address, "received", self.max_hops)
        wallets |= self._paid_near(lookup, address, "sent", self.max_hops)
        return tuple(m for m in self.rescreen(lookup, wallets) if m.listed_address == address)

    def matches_after_transfer(
        self, lookup: Lookup, t: TransferEvent | Edge
    ) -> tuple[PayoutMatch, ...]:
        """Payouts whose evidence path now runs through this transfer (already applied)."""
        edge = edge_from_transfer(t) if isinstance(t, TransferEvent) else t
        if edge is None:
            return ()
        inner = self.max_hops - 1
        wallets = self._paid_near(lookup, edge.sender, "received", inner)
        wallets |= self._paid_near(lookup, edge.recipient, "sent", inner)
        return tuple(
            m
            for m in self.rescreen(lookup, wallets)
            if m.path is not None and any(h.event_id == edge.event_id for h in m.path.hops)
        )


# ----- records ---------------------------------------------------------------------------


def _edge_record(e: Edge) -> list[object]:
    return [
        e.event_id,
        e.sender,
        e.recipient,
        e.token,
        str(e.amount),
        e.decimals,
        format_time(e.at),
        e.chain_id,
    ]


def _time(value: object) -> datetime:
    return datetime.fromisoformat(cast(str, value).replace("Z", "+00:00")).astimezone(UTC)


def _edge_from(rec: object) -> Edge:
    r = cast(list[object], rec)
    return Edge(
        cast(str, r[0]),
        Address(cast(str, r[1])),
        Address(cast(str, r[2])),
        cast(str, r[3]),
        int(cast(str, r[4])),
        cast(int, r[5]),
        _time(r[6]),
        cast(int, r[7]),
    )


def exposure_state_to_record(s: AddressState) -> dict[str, object]:
    """Return the versioned JSON-ready record of an address state.

    Examples
    --------
    >>> s = AddressState(Address("0x" + "a" * 40), counterparties=(5, 9))
    >>> exposure_state_from_record(exposure_state_to_record(s)) == s
    True
    """
    return {
        "v": EXPOSURE_STATE_VERSION,
        "address": s.address,
        "sent": [_edge_record(e) for e in s.sent],
        "received": [_edge_record(e) for e in s.received],
        "list_events": [
            [format_time(x.at), x.delisted, x.program, x.entity, x.source] for x in s.list_events
        ],
        "payouts": [
            [p.event_id, p.worker_id, format_time(p.paid_at), p.asset, str(p.amount)]
            for p in s.payouts
        ],
        "counterparties": [str(h) for h in s.counterparties],
    }


def exposure_state_from_record(rec: Mapping[str, object]) -> AddressState:
    """Return the address state of a record written by `exposure_state_to_record`."""
    if rec.get("v") != EXPOSURE_STATE_VERSION:
        raise ReputationError(
            f"exposure state version must be {EXPOSURE_STATE_VERSION}, got {rec.get('v')!r}"
        )
    events = [
        ListEvent(_time(x[0]), bool(x[1]), cast(str, x[2]), cast(str, x[3]), cast(str, x[4]))
        for x in cast(list[list[object]], rec["list_events"])
    ]
    payouts = [
        PayoutRef(
            cast(str, p[0]), cast(str, p[1]), _time(p[2]), cast(str, p[3]), Decimal(cast(str, p[4]))
        )
        for p in cast(list[list[object]], rec["payouts"])
    ]
    return AddressState(
        address=Address(cast(str, rec["address"])),
        sent=tuple(_edge_from(e) for e in cast(list[object], rec["sent"])),
        received=tuple(_edge_from(e) for e in cast(list[object], rec["received"])),
        list_events=tuple(events),
        payouts=tuple(payouts),
        counterparties=tuple(int(h) for h in cast(list[str], rec["counterparties"])),
    )
