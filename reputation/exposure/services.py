"""Known services and hubs: where a path of funds stops being a link between two parties.

An exchange hot wallet, a DEX pool or router, a bridge, or a token contract
that everyone touches moves the funds of thousands of unrelated people. A path
through one (a sanctioned address deposits to Binance, a worker withdraws from
it) says nothing about the two ends, and many workers depositing to one is not
a shared wallet. `ServiceDirectory` is the list of the well-known ones with
their labels and provenance (``chain/data/service_addresses.csv``, loaded by
``chain.services``, plus the operator's ``VIGIL_SERVICE_ADDRESSES``); a
`Barrier` says why exposure stopped at an address, for evidence and the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from reputation.errors import ConfigError
from reputation.events import Address

__all__ = [
    "SERVICE_CATEGORIES",
    "Barrier",
    "Service",
    "ServiceCategory",
    "ServiceDirectory",
]

ServiceCategory = Literal["exchange", "dex", "bridge", "contract", "configured"]
#: Categories of the shipped list (``configured``: an operator's address without a label).
SERVICE_CATEGORIES: tuple[ServiceCategory, ...] = (
    "exchange",
    "dex",
    "bridge",
    "contract",
    "configured",
)


@dataclass(frozen=True, slots=True)
class Service:
    """One known service address: what it is, and where that knowledge comes from.

    ``origin`` names the list it came from (``shipped list`` or
    ``VIGIL_SERVICE_ADDRESSES``); ``source`` cites the public record behind
    the label.
    """

    address: Address
    label: str
    category: ServiceCategory
    origin: str
    source: str = ""

    def __post_init__(self) -> None:
        if self.address != self.address.lower():
            raise ConfigError(f"service addresses must be lower-case, got {self.address!r}")
        if self.category not in SERVICE_CATEGORIES:
            raise ConfigError(
                f"service category must be one of {', '.join(SERVICE_CATEGORIES)}, "
                f"got {self.category!r}"
            )


@dataclass(frozen=True, slots=True)
class ServiceDirectory:
    """Known service addresses by address; a value, so a model holding it stays frozen.

    Later entries of the same address do not replace earlier ones: the first
    list given wins (the shipped list's label beats a bare configured address).

    Examples
    --------
    >>> a = Address("0x" + "1" * 40)
    >>> d = ServiceDirectory.of([Service(a, "Binance 14", "exchange", "shipped list")])
    >>> a in d, d.get(a).label, len(d)
    (True, 'Binance 14', 1)
    >>> d2 = d.merged(ServiceDirectory.from_addresses([a, Address("0x" + "2" * 40)], "env"))
    >>> len(d2), d2.get(a).origin
    (2, 'shipped list')
    """

    entries: tuple[Service, ...] = ()
    _by_address: Mapping[Address, Service] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        by: dict[Address, Service] = {}
        for s in self.entries:
            by.setdefault(s.address, s)
        object.__setattr__(self, "_by_address", by)
        if len(by) != len(self.entries):
            kept = tuple(sorted(by.values(), key=lambda s: s.address))
            object.__setattr__(self, "entries", kept)

    @classmethod
    def of(cls, services: Iterable[Service]) -> ServiceDirectory:
        """Return the directory of `services` (the first entry of an address wins)."""
        first: dict[Address, Service] = {}
        for s in services:
            first.setdefault(s.address, s)
        return cls(tuple(sorted(first.values(), key=lambda s: s.address)))

    @classmethod
    def from_addresses(cls, addresses: Iterable[str], origin: str) -> ServiceDirectory:
        """Return a directory of bare addresses (no label), e.g. from configuration."""
        return cls.of(
            Service(Address(a), f"configured service {a[:10]}", "configured", origin)
            for a in addresses
        )

    def merged(self, other: ServiceDirectory) -> ServiceDirectory:
        """Return this directory with `other`'s addresses added (ours win on a clash)."""
        return ServiceDirectory.of((*self.entries, *other.entries))

    def get(self, address: str) -> Service | None:
        """Return the service at `address`, if it is one."""
        return self._by_address.get(Address(address))

    def __contains__(self, address: object) -> bool:
        return address in self._by_address

    def __iter__(self) -> Iterator[Address]:
        return iter(s.address for s in self.entries)

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True, slots=True)
class Barrier:
    """Why exposure does not pass through an address: a known service, or a hub.

    ``reason`` is the sentence for a person, e.g. ``service: Binance 14
    (shipped list)`` or ``hub: 1,204 distinct counterparties``.
    """

    address: Address
    kind: Literal["service", "hub"]
    reason: str
    label: str | None = None
    category: str | None = None
    origin: str | None = None
    counterparties: int | None = None

    def to_json(self) -> dict[str, object]:
        """Return the JSON form used in evidence and the exposure route."""
        out: dict[str, object] = {
            "address": self.address,
            "kind": self.kind,
            "reason": self.reason,
        }
        if self.kind == "service":
            out.update(label=self.label, category=self.category, origin=self.origin)
        else:
            out["counterparties"] = self.counterparties
        return out
