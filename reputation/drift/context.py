"""Novel request context: devices, networks, countries and UTC offsets first seen recently.

A value is *novel* when its first day in the window comes after at least
`min_before` earlier active days (so a worker's usual second phone or mobile
network, seen in the first days, is not novel). A new network alone is noise
(half of the workers use several) and a new country or offset alone is a trip;
what marks a new operator is a novel device together with a novel network,
country, offset or a shift in hours.
"""

from __future__ import annotations

from dataclasses import dataclass

from reputation.drift.buckets import Seen, TaskDay

__all__ = ["ContextNovelty", "context_novelty", "context_values"]


@dataclass(frozen=True, slots=True)
class ContextNovelty:
    """Context values first seen in the recent block of a window.

    Parameters
    ----------
    devices
        Novel devices with their first event.
    asns, countries, offsets
        Novel networks, countries and UTC offsets (minutes).
    """

    devices: tuple[Seen[str], ...] = ()
    asns: tuple[int, ...] = ()
    countries: tuple[str, ...] = ()
    offsets: tuple[int, ...] = ()

    @property
    def place(self) -> bool:
        """Whether a country or UTC offset is novel."""
        return bool(self.countries or self.offsets)

    @property
    def network(self) -> bool:
        """Whether a network, country or UTC offset is novel."""
        return bool(self.asns) or self.place


def context_novelty(days: tuple[TaskDay, ...], min_before: int, since: int) -> ContextNovelty:
    """Return the values whose first day has index >= `since` and >= `min_before`.

    Parameters
    ----------
    days
        Eligible days of the window, oldest first.
    min_before
        Active days that must precede a value's first day for it to count as novel.
    since
        Index of the first day of the recent block.

    Examples
    --------
    >>> d = [TaskDay(i, 1, 1, 1, i, f"t-{i}", (Seen("a", i, f"t-{i}"),), (7,), ("US",), (0,))
    ...      for i in range(3)]
    >>> d.append(TaskDay(3, 1, 1, 1, 3, "t-3", (Seen("b", 3, "t-3"),), (7, 9), ("US",), (0,)))
    >>> n = context_novelty(tuple(d), 3, 3)
    >>> [s.value for s in n.devices], n.asns, n.network
    (['b'], (9,), True)
    """
    start = max(since, min_before)
    if start >= len(days):
        return ContextNovelty()
    devices: dict[str, Seen[str]] = {}
    asns: set[int] = set()
    countries: set[str] = set()
    offsets: set[int] = set()
    for day in days[:start]:
        devices.update((s.value, s) for s in day.devices)
        asns.update(day.asns)
        countries.update(day.countries)
        offsets.update(day.offsets)
    new_dev: dict[str, Seen[str]] = {}
    new_asn: set[int] = set()
    new_country: set[str] = set()
    new_off: set[int] = set()
    for day in days[start:]:
        for s in day.devices:
            if s.value not in devices and s.value not in new_dev:
                new_dev[s.value] = s
        new_asn.update(a for a in day.asns if a not in asns)
        new_country.update(c for c in day.countries if c not in countries)
        new_off.update(o for o in day.offsets if o not in offsets)
    return ContextNovelty(
        tuple(sorted(new_dev.values(), key=lambda s: (s.ts_us, s.event_id))),
        tuple(sorted(new_asn)),
        tuple(sorted(new_country)),
        tuple(sorted(new_off)),
    )


def context_values(days: tuple[TaskDay, ...]) -> dict[str, object]:
    """Return the distinct context values of some days (JSON-ready, sorted).

    Examples
    --------
    >>> context_values((TaskDay(0, 1, 1, 1, 0, "t", (Seen("a", 0, "t"),), (7,), ("US",), (0,)),))
    {'devices': ['a'], 'asns': [7], 'countries': ['US'], 'utc_offsets_min': [0]}
    """
    return {
        "devices": sorted({s.value for d in days for s in d.devices}),
        "asns": sorted({a for d in days for a in d.asns}),
        "countries": sorted({c for d in days for c in d.countries}),
        "utc_offsets_min": sorted({o for d in days for o in d.offsets}),
    }
