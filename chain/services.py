"""The shipped list of well-known service addresses: read, check, and turn into a value.

``chain/data/service_addresses.csv`` names exchange hot and cold wallets, DEX
routers and pools, bridges and hub contracts (WETH, the null address of mints
and burns), each with its label, category, public source and the date it was
checked (``chain/data/README.md``). `load_shipped_services` reads it once at
start-up (``config.load_settings`` calls it unless ``VIGIL_SHIPPED_SERVICES``
is false); the result, a `reputation.exposure.ServiceDirectory`, goes into the
pure core as a value.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from importlib.resources import files
from pathlib import Path

from chain.errors import ServiceListError
from reputation.eip55 import checksum_address
from reputation.events import Address
from reputation.exposure.services import Service, ServiceCategory, ServiceDirectory

__all__ = [
    "SERVICE_LIST_COLUMNS",
    "SHIPPED_ORIGIN",
    "load_service_file",
    "load_shipped_services",
    "parse_service_csv",
]

SERVICE_LIST_COLUMNS = ("address", "label", "category", "source", "as_of")
SHIPPED_ORIGIN = "shipped list"
_CATEGORIES: tuple[ServiceCategory, ...] = ("exchange", "dex", "bridge", "contract")
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")


def parse_service_csv(text: str, origin: str = SHIPPED_ORIGIN) -> ServiceDirectory:
    """Parse a service list in the shipped CSV format; raise `ServiceListError` on any bad row.

    Every address must be in its EIP-55 checksummed form (so a typo in one
    hex digit is caught), every row needs a label, a category, a source and
    an ``as_of`` date, and no address may appear twice.

    Examples
    --------
    >>> head = "address,label,category,source,as_of"
    >>> row = "0x28C6c06298d514Db089934071355E5743bf21d60,Binance 14,exchange,Etherscan,2026-12-03"
    >>> d = parse_service_csv(head + chr(10) + row + chr(10))
    >>> d.get("0x28c6c06298d514db089934071355e5743bf21d60").label
    'Binance 14'
    """
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != SERVICE_LIST_COLUMNS:
        raise ServiceListError(1, f"columns must be {', '.join(SERVICE_LIST_COLUMNS)}")
    out: list[Service] = []
    seen: set[str] = set()
    for n, row in enumerate(reader, start=2):
        raw = (row.get("address") or "").strip()
        body = raw[2:]
        if not (raw.startswith("0x") and _HEX40.fullmatch(body)):
            raise ServiceListError(n, f"address must be 0x + 40 hex, got {raw!r}")
        expected = checksum_address(body.lower())
        if raw != expected:
            raise ServiceListError(n, f"address {raw} is not EIP-55 checksummed ({expected})")
        category = (row.get("category") or "").strip()
        if category not in _CATEGORIES:
            raise ServiceListError(
                n, f"category must be one of {', '.join(_CATEGORIES)}, got {category!r}"
            )
        label, source = (row.get("label") or "").strip(), (row.get("source") or "").strip()
        if not label or not source:
            raise ServiceListError(n, f"{raw}: label and source are required")
        as_of = (row.get("as_of") or "").strip()
        try:
            date.fromisoformat(as_of)
        except ValueError:
            raise ServiceListError(n, f"as_of must be YYYY-MM-DD, got {as_of!r}") from None
        address = Address(raw.lower())
        if address in seen:
            raise ServiceListError(n, f"{raw} appears twice")
        seen.add(address)
        out.append(Service(address, label, category, origin, source))
    return ServiceDirectory.of(out)


def load_service_file(path: Path, origin: str | None = None) -> ServiceDirectory:
    """Read a service list file in the shipped CSV format."""
    return parse_service_csv(path.read_text(encoding="utf-8"), origin or str(path))


def load_shipped_services() -> ServiceDirectory:
    """Read the list shipped in ``chain/data/service_addresses.csv``."""
    text = files("chain").joinpath("data/service_addresses.csv").read_text(encoding="utf-8")
    return parse_service_csv(text, SHIPPED_ORIGIN)
