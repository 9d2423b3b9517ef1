"""OFAC SDN addresses as the simulator uses them: parsed rows and `sanctions` events.

Parsing is pure (it takes the CSV text); `sim.output.load_sanctions_lists` reads
the bundled files.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sim.times import format_time, to_ts


@dataclass(frozen=True, slots=True)
class ListedAddress:
    """One unique EVM address of the OFAC SDN list (rows merged per address).

    Parameters
    ----------
    address
        Lower-case ``0x`` + 40 hex.
    program, entity
        Comma-joined programme tags and the SDN entry name.
    listed_at
        ``ofac_action_date``, else ``first_seen_in_source``, as Unix seconds.
    """

    address: str
    program: str
    entity: str
    listed_at: int


@dataclass(frozen=True, slots=True)
class SanctionsLists:
    """The current list and the delisted addresses, both sorted by address."""

    listed: tuple[ListedAddress, ...]
    delisted: tuple[ListedAddress, ...]


def parse_ofac_csv(text: str) -> tuple[ListedAddress, ...]:
    r"""Parse ``ofac_sdn_evm_addresses*.csv`` text into one entry per unique address.

    Programmes of several rows for the same address are merged; the earliest
    listing date wins.

    Examples
    --------
    >>> text = (
    ...     "address,asset,sdn_name,program,sdn_uid,ofac_action_date,first_seen_in_source\n"
    ...     "0x" + "ab" * 20 + ",ETH,LAZARUS GROUP,DPRK3,1,2022-04-14,2022-09-03\n"
    ...     "0x" + "ab" * 20 + ",USDT,LAZARUS GROUP,CYBER2,1,,2023-01-01\n"
    ... )
    >>> [(e.program, e.entity) for e in parse_ofac_csv(text)]
    [('CYBER2, DPRK3', 'LAZARUS GROUP')]
    """
    merged: dict[str, tuple[set[str], str, int]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        address = row["address"].strip().lower()
        if len(address) != 42 or not address.startswith("0x"):
            continue
        date = (row.get("ofac_action_date") or "").strip() or row["first_seen_in_source"].strip()
        listed_at = to_ts(date + "T00:00:00Z")
        programs = {p.strip() for p in row["program"].split(",") if p.strip()}
        if address in merged:
            old_programs, entity, old_at = merged[address]
            merged[address] = (old_programs | programs, entity, min(old_at, listed_at))
        else:
            merged[address] = (programs, row["sdn_name"].strip(), listed_at)
    return tuple(
        ListedAddress(addr, ", ".join(sorted(progs)) or "UNKNOWN", entity or "UNKNOWN", at)
        for addr, (progs, entity, at) in sorted(merged.items())
    )


def sanctions_event(entry: ListedAddress, listed_at: int, delisted: bool) -> dict[str, object]:
    """Return a `vigil.sanctions` event for a list entry.

    The contract's sanctions record has no ``event_id``; the simulator adds one
    (``sdn:<address>:<listed|delisted>``) because every event must have one and
    unknown fields are ignored by consumers.

    Examples
    --------
    >>> e = ListedAddress("0x" + "ab" * 20, "DPRK3", "LAZARUS GROUP", 1_649_894_400)
    >>> sanctions_event(e, e.listed_at, False)["listed_at"]
    '2022-04-14T00:00:00Z'
    """
    return {
        "event_id": f"sdn:{entry.address}:{'delisted' if delisted else 'listed'}",
        "address": entry.address,
        "program": entry.program,
        "entity": entry.entity,
        "listed_at": format_time(listed_at),
        "source": "OFAC SDN",
        "delisted": delisted,
    }
