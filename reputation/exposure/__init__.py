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
Known service addresses (a `ServiceDirectory`: exchanges, DEX routers and
pools, bridges, hub contracts such as WETH, from the shipped, sourced list and
configuration) and hubs (more than ``hub_degree`` distinct counterparties,
counted exactly up to ``sketch_size`` with a k-minimum-values sketch) never sit
*inside* such a path, as commercial tracing follows only unhosted wallets;
service addresses also keep no edges of their own. A `Barrier` says why a
search stopped at one; `ExposureModel.revalidate` tells whether an alert raised
before an address was known to be a hub still stands.
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

from reputation.exposure.codec import exposure_state_from_record, exposure_state_to_record
from reputation.exposure.graph import (
    EXPOSURE_STATE_VERSION,
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
    edge_from_transfer,
)
from reputation.exposure.search import ExposureModel
from reputation.exposure.services import Barrier, Service, ServiceDirectory

__all__ = [
    "EXPOSURE_STATE_VERSION",
    "AddressState",
    "Barrier",
    "Direction",
    "Edge",
    "Exposure",
    "ExposureModel",
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
    "Service",
    "ServiceDirectory",
    "edge_from_transfer",
    "exposure_state_from_record",
    "exposure_state_to_record",
]
