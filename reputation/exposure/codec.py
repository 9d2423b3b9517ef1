"""Versioned JSON records of address state (``{"v": 1, ...}``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from reputation.errors import ReputationError
from reputation.events import Address, format_time
from reputation.exposure.graph import (
    EXPOSURE_STATE_VERSION,
    AddressState,
    Edge,
    ListEvent,
    PayoutRef,
)

__all__ = [
    "exposure_state_from_record",
    "exposure_state_to_record",
]


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
