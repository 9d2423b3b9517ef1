"""The exposure model: order-free updates of address state and bounded path searches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal, cast

from reputation.errors import ConfigError, ReputationError
from reputation.events import Address, PayoutEvent, SanctionEntry, TransferEvent, format_time
from reputation.exposure.graph import (
    EPOCH,
    NEVER,
    AddressState,
    Direction,
    Edge,
    Exposure,
    Hop,
    LinkClaim,
    ListEvent,
    Listing,
    Lookup,
    MatchKind,
    Path,
    PayoutMatch,
    PayoutRef,
    Revalidation,
    address_hash64,
    edge_from_transfer,
)
from reputation.exposure.services import Barrier, ServiceDirectory

__all__ = [
    "ExposureModel",
]


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
    stopped: frozenset[Address] = frozenset()  # services and hubs the search did not pass


#: Services and hubs named per answer as where paths stopped (smallest addresses first).
MAX_STOPPED = 8


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
        An address with more distinct counterparties (senders and recipients
        together) than this is a hub: never a path's inner hop, never a
        shared wallet or consolidation point. The count is exact below
        `sketch_size` and only grows with more transfers, so with
        ``sketch_size > hub_degree`` (the default) the decision is exact and
        order-free; ``config/README.md`` explains the default.
    sketch_size
        Size of the k-minimum-values sketch that counts counterparties: an
        exact set of 64-bit hashes until it is full, then an estimate (about
        ``1/sqrt(k)`` relative error) that never falls below `sketch_size`.
        Memory: at most ``sketch_size`` integers per address.
    max_visited
        Addresses one search may touch; beyond it results say ``truncated``.
    services
        Known service addresses (exchanges, DEX routers and pools, bridges, hub
        contracts) as a `ServiceDirectory` with labels and provenance, or a set
        of bare addresses: never inner hops, no edges kept.

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
    max_payouts: int = 256
    max_listings: int = 16
    hub_degree: int = 100
    sketch_size: int = 128
    max_visited: int = 5000
    services: ServiceDirectory | frozenset[Address] = ServiceDirectory()

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
        if not isinstance(self.services, ServiceDirectory):
            directory = ServiceDirectory.from_addresses(self.services, "configured")
            object.__setattr__(self, "services", directory)

    @property
    def directory(self) -> ServiceDirectory:
        """The known services, with labels and provenance."""
        return cast(ServiceDirectory, self.services)

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
            sent = self._keep(sent, edge, "sent")
        if edge.recipient == s.address:
            received = self._keep(received, edge, "received")
        other = edge.recipient if edge.sender == s.address else edge.sender
        sketch = self._sketch(s.counterparties, address_hash64(other))
        if sent is s.sent and received is s.received and sketch is s.counterparties:
            return s
        return replace(s, sent=sent, received=received, counterparties=sketch)

    def _keep(
        self, edges: tuple[Edge, ...], e: Edge, side: Literal["sent", "received"]
    ) -> tuple[Edge, ...]:
        """Keep counterparties' earliest edges (half the room), then the latest others.

        A path's time is the earliest edge of each hop, so a counterparty's first
        transfer must survive a wallet's later traffic (hundreds of payouts must
        not push out the one early transfer from an address listed months later).
        Both parts are order-free: the first edges of the earliest ``max_edges // 2``
        counterparties, and among the remaining edges the latest by time, up to
        `max_edges` in all (the latest traffic matters too, for a wallet whose
        early counterparties are many).
        """
        if any(x.event_id == e.event_id for x in edges):
            return edges
        merged = sorted((*edges, e), key=lambda x: x.key)
        firsts: dict[Address, Edge] = {}
        for x in merged:
            firsts.setdefault(x.recipient if side == "sent" else x.sender, x)
        first = sorted(firsts.values(), key=lambda x: x.key)[: max(1, self.max_edges // 2)]
        chosen = {x.event_id for x in first}
        rest = [x for x in merged if x.event_id not in chosen]
        room = self.max_edges - len(first)
        kept = first + (rest[-room:] if room > 0 else [])
        return tuple(sorted(kept, key=lambda x: x.key))

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
        """Count the distinct counterparties: exactly below `sketch_size`, then an estimate.

        The estimate of a full sketch is never below `sketch_size` (that many
        distinct hashes were seen) and only grows as transfers are added, so
        hub status is monotone: once a hub, always a hub, in any order.
        """
        k = len(s.counterparties)
        if k < self.sketch_size:
            return float(k)
        return max(float(k), (k - 1) * 2.0**64 / (s.counterparties[-1] + 1))

    def is_barrier(self, address: Address, s: AddressState | None) -> bool:
        """Tell whether exposure stops at `address` (a known service or a hub)."""
        if address in self.services:
            return True
        return s is not None and self.counterparties(s) > self.hub_degree

    def barrier(self, address: Address, s: AddressState | None) -> Barrier | None:
        """Return why exposure stops at `address` (a known service or a hub), or None.

        Examples
        --------
        >>> from reputation.exposure.services import Service, ServiceDirectory
        >>> a = Address("0x" + "1" * 40)
        >>> m = ExposureModel(services=ServiceDirectory.of(
        ...     [Service(a, "Binance 14", "exchange", "shipped list")]))
        >>> m.barrier(a, None).reason
        'service: Binance 14 (shipped list)'
        >>> s = AddressState(Address("0x" + "2" * 40), counterparties=tuple(range(1, 102)))
        >>> m.barrier(s.address, s).reason
        'hub: 101 distinct counterparties'
        """
        service = self.directory.get(address)
        if service is not None:
            return Barrier(
                address,
                "service",
                f"service: {service.label} ({service.origin})",
                label=service.label,
                category=service.category,
                origin=service.origin,
            )
        if s is None:
            return None
        n = self.counterparties(s)
        if n <= self.hub_degree:
            return None
        about = "" if len(s.counterparties) < self.sketch_size else "about "
        return Barrier(
            address,
            "hub",
            f"hub: {about}{round(n):,} distinct counterparties",
            counterparties=round(n),
        )

    def _barriers(self, lookup: Lookup, addresses: Iterable[Address]) -> tuple[Barrier, ...]:
        out = []
        for a in sorted(addresses)[:MAX_STOPPED]:
            b = self.barrier(a, lookup(a))
            if b is not None:
                out.append(b)
        return tuple(out)

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
        best: dict[Address, datetime] = {start: EPOCH}
        labels: dict[Address, list[_Label]] = {}
        frontier: dict[Address, _Label] = {start: _Label(EPOCH, (start,))}
        truncated = False
        stopped: set[Address] = set()
        for hop in range(1, max_hops + 1):
            new: dict[Address, _Label] = {}
            n_seen = len(best)
            for u in sorted(frontier):
                state = lookup(u)
                if hop > 1 and self.is_barrier(u, state):
                    stopped.add(u)
                    continue
                if state is None:
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
        return _Reach({k: tuple(v) for k, v in labels.items()}, truncated, frozenset(stopped))

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
    ) -> tuple[list[tuple[_Label, Direction, AddressState]], bool, frozenset[Address]]:
        """Every (label, direction, listed state) reachable from `wallet` within `max_hops`.

        Also says whether the search was truncated and where it stopped at a
        service or hub.
        """
        found: list[tuple[_Label, Direction, AddressState]] = []
        truncated = False
        stopped: frozenset[Address] = frozenset()
        if wallet in self.services:
            return found, truncated, stopped
        for side, direction in (("sent", "to_listed"), ("received", "from_listed")):
            reach = self._reach(
                lookup, wallet, cast(Literal["sent", "received"], side), self.max_hops
            )
            truncated = truncated or reach.truncated
            stopped |= reach.stopped
            for address in sorted(reach.labels):
                state = lookup(address)
                if state is not None and state.list_events:
                    for lab in reach.labels[address]:
                        found.append((lab, cast(Direction, direction), state))
        return found, truncated, stopped

    def assess(self, lookup: Lookup, address: Address, *, at: datetime | None = None) -> Exposure:
        """Tell whether `address` is listed or linked at `at` (None: now), with the shortest path.

        Among the shortest paths the earliest wins, then the smallest addresses,
        so the answer does not depend on arrival order.
        """
        state = lookup(address)
        listing = self.listing_at(state, at)
        found, truncated, stopped = self._candidates(lookup, address)
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
            barrier_reason=self.barrier(address, state),
            stopped=self._barriers(lookup, stopped),
        )

    def match_payout(
        self,
        lookup: Lookup,
        payout: PayoutRef | PayoutEvent,
        wallet: Address | None = None,
        candidates: (
            tuple[list[tuple[_Label, Direction, AddressState]], bool, frozenset[Address]] | None
        ) = None,
    ) -> PayoutMatch | None:
        """Classify one payout against the current graph and list; None if it touches nothing.

        Listed at ``paid_at`` beats linked at ``paid_at``, which beats a later
        (retroactive) listing or link; within a kind, fewer hops win, then the
        earlier match. `candidates` is the wallet's graph search, when the caller
        classifies several payouts of one wallet (it does not depend on the payout).
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
        found, _, stopped = candidates or self._candidates(lookup, wallet)
        for lab, direction, target in found:
            for x in self.episodes(target):
                since = max(lab.time, x.listed_at)
                end = x.delisted_at or NEVER
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
            self._barriers(lookup, stopped),
        )

    def rescreen(self, lookup: Lookup, wallets: Iterable[Address]) -> tuple[PayoutMatch, ...]:
        """Classify every kept payout of `wallets`: the complete (and slower) re-check."""
        out: list[PayoutMatch] = []
        for wallet in sorted(set(wallets)):
            state = lookup(wallet)
            if state is None or not state.payouts:
                continue
            found = self._candidates(lookup, wallet)  # one search, every payout of the wallet
            for p in state.payouts:
                m = self.match_payout(lookup, p, wallet, found)
                if m is not None:
                    out.append(m)
        return tuple(out)

    def revalidate(self, lookup: Lookup, claim: LinkClaim | PayoutMatch) -> Revalidation:
        """Tell whether a sanctions alert raised earlier still stands on the current graph.

        An alert is one per (type, worker, wallet): it stands while any payout
        of the worker to the wallet (the claimed one and those the wallet
        keeps) still matches with the same kind. It must be withdrawn when an
        inner address of its path has since become a known service or a hub
        (a hub is recognised only once enough counterparties have been seen,
        possibly after the alert) and no other path gives the same kind; then
        ``current`` is the payout's match now (None, or another kind, which
        the caller raises as usual). Aged-out evidence (bounded state) is
        ``unverifiable``, not a reason to withdraw. A delisting never withdraws
        an alert whose link held while the listing was in force; one that shows
        the listing was not in force then is `revalidate_delisting`'s case.
        Pure: the caller reports the result.

        Examples
        --------
        >>> from reputation.events import parse_sanction, parse_transfer
        >>> m = ExposureModel(hub_degree=3, sketch_size=8)
        >>> w, x, s = "0x" + "1" * 40, "0x" + "2" * 40, "0x" + "3" * 40
        >>> def transfer(i, a, b):
        ...     return parse_transfer({"event_id": f"1:0x{i:064x}:0", "chain_id": 1,
        ...         "block_number": i, "block_time": f"2026-01-0{i}T00:00:00Z",
        ...         "tx_hash": f"0x{i:064x}", "log_index": 0, "token": "ETH",
        ...         "from": a, "to": b, "amount": "1000", "decimals": 18})
        >>> db = {}
        >>> def apply(t):
        ...     for a in (t.sender, t.recipient):
        ...         db[a] = m.add_transfer(db.get(a) or AddressState(a), t)
        >>> apply(transfer(1, w, x)); apply(transfer(2, x, s))
        >>> db[s] = m.add_listing(db[s], parse_sanction({"address": s, "program": "DPRK3",
        ...     "entity": "LAZARUS GROUP", "listed_at": "2022-04-14T00:00:00Z",
        ...     "source": "OFAC SDN"}))
        >>> claim = m.assess(db.get, w)  # linked through x
        >>> ref = PayoutRef("p-1", "w-1", claim.path.linked_at, "USDC", Decimal(1))
        >>> match = m.match_payout(db.get, ref, w)
        >>> m.revalidate(db.get, match).status
        'valid'
        >>> for i, other in enumerate("4567", start=3):  # x turns out to be a hub
        ...     apply(transfer(i, x, "0x" + other * 40))
        >>> r = m.revalidate(db.get, match)
        >>> r.status, r.reason
        ('withdraw', 'path stopped at hub: 6 distinct counterparties')
        """
        if isinstance(claim, PayoutMatch):
            claim = LinkClaim.from_match(claim)
        stop: Barrier | None = None
        for a in claim.inner:
            stop = self.barrier(a, lookup(a))
            if stop is not None:
                break
        wallet = lookup(claim.wallet)
        refs = {
            p.event_id: p
            for p in (() if wallet is None else wallet.payouts)
            if p.worker_id == claim.worker_id
        }
        refs.setdefault(
            claim.payout_event_id,
            PayoutRef(claim.payout_event_id, claim.worker_id, claim.paid_at, "", Decimal(0)),
        )
        matches = [
            m
            for p in sorted(refs.values(), key=lambda p: (p.paid_at, p.event_id))
            if (m := self.match_payout(lookup, p, claim.wallet)) is not None
        ]
        same = [m for m in matches if m.kind is claim.kind]
        own = next((m for m in matches if m.payout_event_id == claim.payout_event_id), None)
        if same:
            how = "its path still holds" if stop is None else f"another path holds ({stop.reason})"
            return Revalidation("valid", how, stop, same[0])
        if stop is None:
            why = "the path is no longer in the kept (bounded) state; the alert is kept"
            return Revalidation("unverifiable", why, None, own)
        return Revalidation("withdraw", f"path stopped at {stop.reason}", stop, own)

    def revalidate_delisting(
        self, lookup: Lookup, listed: Address, worker_id: str, wallet: Address, kind: MatchKind
    ) -> Revalidation:
        """Tell whether a sanctions alert still stands once `listed` has a delisting.

        Arrival order is not event order: an alert can be raised from a listing
        before the delisting that ended it, in event time, before the payout or
        the linking transfer arrives. The alert (one per type, worker and wallet)
        stands while any payout of the worker to the wallet still matches with
        the same kind. It is withdrawn when none does but one would with the
        delistings of `listed` ignored: the listing was not in force when it
        mattered, so the final alerts are those of the final list. A match that
        fails for another reason (evidence aged out of bounded state) is
        ``unverifiable`` and kept. Pure: the caller reports the result.

        Examples
        --------
        >>> from reputation.events import parse_payout, parse_sanction, parse_transfer
        >>> m = ExposureModel()
        >>> w, s = "0x" + "1" * 40, "0x" + "3" * 40
        >>> t = parse_transfer({"event_id": "1:0x" + "1" * 64 + ":0", "chain_id": 1,
        ...     "block_number": 1, "block_time": "2026-01-05T00:00:00Z", "tx_hash": "0x" + "1" * 64,
        ...     "log_index": 0, "token": "ETH", "from": s, "to": w, "amount": "1", "decimals": 18})
        >>> db = {a: m.add_transfer(AddressState(a), t) for a in (w, s)}
        >>> db[w] = m.add_payout(db[w], parse_payout({"event_id": "p-1", "worker_id": "w-1",
        ...     "payer_id": "a-1", "wallet": w, "chain_id": 1, "asset": "USDC", "amount": "1",
        ...     "paid_at": "2026-01-06T00:00:00Z"}))
        >>> def entry(at, delisted):
        ...     return parse_sanction({"address": s, "program": "DPRK3", "entity": "X",
        ...         "listed_at": at, "source": "OFAC SDN", "delisted": delisted})
        >>> db[s] = m.add_listing(db[s], entry("2022-01-01T00:00:00Z", False))
        >>> m.match_payout(db.get, db[w].payouts[0], w).kind  # the delisting not seen yet
        <MatchKind.SANCTIONED_LINKED_PAYOUT: 'SANCTIONED_LINKED_PAYOUT'>
        >>> db[s] = m.add_listing(db[s], entry("2026-01-01T00:00:00Z", True))  # before the transfer
        >>> r = m.revalidate_delisting(db.get, s, "w-1", w, MatchKind.SANCTIONED_LINKED_PAYOUT)
        >>> r.status, r.reason.endswith("was not in force then: delisted 2026-01-01T00:00:00Z")
        ('withdraw', True)
        """
        now = [m for m in self.rescreen(lookup, [wallet]) if m.worker_id == worker_id]
        same = [m for m in now if m.kind is kind]
        if same:
            return Revalidation("valid", "a payout still matches", None, same[0])
        current = now[0] if now else None
        state = lookup(listed)
        delistings = () if state is None else tuple(x for x in state.list_events if x.delisted)
        if state is None or not delistings:
            why = "no delisting explains it; the evidence may have aged out; the alert is kept"
            return Revalidation("unverifiable", why, None, current)
        listed_only = replace(
            state, list_events=tuple(x for x in state.list_events if not x.delisted)
        )

        def before(a: Address) -> AddressState | None:
            return listed_only if a == listed else lookup(a)

        then = [
            m
            for m in self.rescreen(before, [wallet])
            if m.worker_id == worker_id and m.kind is kind and m.listed_address == listed
        ]
        if not then:
            why = "it does not match even without the delisting; the alert is kept"
            return Revalidation("unverifiable", why, None, current)
        when = ", ".join(sorted({format_time(x.at) for x in delistings}))
        why = f"the listing of {listed} was not in force then: delisted {when}"
        return Revalidation("withdraw", why, None, current)

    def _paid_near(
        self, lookup: Lookup, start: Address, side: Literal["sent", "received"], max_hops: int
    ) -> set[Address]:
        near = {start}
        if max_hops > 0:
            near |= set(self._reach(lookup, start, side, max_hops).labels)
        return {a for a in near if (s := lookup(a)) is not None and s.payouts}

    def _listed_near(
        self, lookup: Lookup, start: Address, side: Literal["sent", "received"], max_hops: int
    ) -> bool:
        near = {start}
        if max_hops > 0:
            near |= set(self._reach(lookup, start, side, max_hops).labels)
        return any(self.episodes(lookup(a)) for a in near)

    def matches_after_listing(self, lookup: Lookup, address: Address) -> tuple[PayoutMatch, ...]:
        """Payouts that a listing of `address` (already applied to its state) makes matches.

        Searches out from the listed address through its kept transfers; when
        it has more than `max_edges` in a direction, older counterparties are
        found only by `rescreen` of the paid wallets.
        """
        wallets = self.paid_wallets_near(lookup, address)
        return tuple(m for m in self.rescreen(lookup, wallets) if m.listed_address == address)

    def paid_wallets_near(self, lookup: Lookup, address: Address) -> set[Address]:
        """Return the paid wallets within `max_hops` of `address`, either way, itself included."""
        wallets = self._paid_near(lookup, address, "received", self.max_hops)
        wallets |= self._paid_near(lookup, address, "sent", self.max_hops)
        return wallets

    def matches_after_transfer(
        self, lookup: Lookup, t: TransferEvent | Edge
    ) -> tuple[PayoutMatch, ...]:
        """Payouts whose evidence path now runs through this transfer (already applied)."""
        edge = edge_from_transfer(t) if isinstance(t, TransferEvent) else t
        if edge is None:
            return ()
        inner = self.max_hops - 1
        # A path through this edge runs on from its recipient to a listed address, or
        # from a listed address to its sender: with neither in reach, nothing changed
        # (the common case, and far cheaper than re-screening every nearby payout).
        if not (
            self._listed_near(lookup, edge.recipient, "sent", inner)
            or self._listed_near(lookup, edge.sender, "received", inner)
        ):
            return ()
        wallets = self._paid_near(lookup, edge.sender, "received", inner)
        wallets |= self._paid_near(lookup, edge.recipient, "sent", inner)
        return tuple(
            m
            for m in self.rescreen(lookup, wallets)
            if m.path is not None and any(h.event_id == edge.event_id for h in m.path.hops)
        )


# ----- records ---------------------------------------------------------------------------
