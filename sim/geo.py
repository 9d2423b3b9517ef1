"""Countries where simulated workers live: UTC offsets, network ASNs, population weights.

Offsets are standard (winter) offsets; countries that observe daylight-saving
time name their rule (`DST_RULES`) and `offset_at` adds the hour on the real
switch dates. ASNs are real access networks of each country where we know them,
padded with per-country synthetic ones for workers who roam over many networks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Country:
    """A country: ISO code, the standard UTC offsets (minutes) of its zones, ASNs, weight.

    ``dst`` names the daylight-saving rule (`DST_RULES`) or is empty.
    """

    code: str
    offsets_min: tuple[int, ...]
    asns: tuple[int, ...]
    weight: float
    dst: str = ""


COUNTRIES: tuple[Country, ...] = (
    Country("US", (-300, -360, -420, -480), (7922, 7018, 701, 21928, 20115), 14.0, "us"),
    Country("IN", (330,), (24560, 55836, 9829, 45609), 14.0),
    Country("PH", (480,), (9299, 132199, 10139), 9.0),
    Country("KE", (180,), (33771, 36926, 37061), 6.0),
    Country("NG", (60,), (29465, 37148, 36873), 6.0),
    Country("PK", (300,), (17557, 45669, 59257), 5.0),
    Country("BD", (360,), (24389, 24432, 45245), 5.0),
    Country("VE", (-240,), (8048, 27889), 3.0),
    Country("BR", (-180,), (28573, 18881, 26599), 6.0),
    Country("UA", (180,), (15895, 21497, 25229), 3.0),
    Country("GB", (0,), (2856, 5089, 5607), 4.0, "eu"),
    Country("DE", (60,), (3320, 3209, 6805), 3.0, "eu"),
    Country("ID", (420,), (7713, 23693, 4761), 5.0),
    Country("EG", (180,), (8452, 24835, 36935), 4.0),
    Country("MX", (-360,), (8151, 28403, 13999), 4.0),
    Country("VN", (420,), (7552, 45899, 18403), 4.0),
    Country("CN", (480,), (4134, 4837, 9808), 0.0),
    Country("RU", (180,), (12389, 8359, 3216), 0.0),
    Country("AU", (600,), (1221, 4804, 7545), 1.0, "au"),
    Country("JP", (540,), (2516, 17676, 4713), 1.0),
    Country("NZ", (720,), (9500, 4771), 0.3, "nz"),
    Country("AR", (-180,), (7303, 22927), 1.0),
    Country("CO", (-300,), (3816, 10620), 1.5),
    Country("TH", (420,), (7470, 45758), 1.0),
    Country("AE", (240,), (5384, 15802), 0.5),
)

#: Hosting and VPN networks, used by account-takeover operators.
VPN_ASNS: tuple[int, ...] = (16509, 14061, 9009, 60068, 212238, 20473)

#: VPN exit points (ASN, country) of commercial VPN services, used per session by VPN users.
VPN_EXITS: tuple[tuple[int, str], ...] = (
    (9009, "GB"),
    (9009, "DE"),
    (60068, "US"),
    (212238, "NL"),
    (16509, "US"),
    (14061, "DE"),
    (20473, "JP"),
    (136787, "SG"),
    (9009, "AE"),
    (60068, "AU"),
)

#: Daylight-saving rules: ``us`` (second Sunday of March to first Sunday of November,
#: 02:00 local), ``eu`` (last Sunday of March to last Sunday of October, 01:00 UTC),
#: ``au`` (first Sunday of October to first Sunday of April, southern summer) and
#: ``nz`` (last Sunday of September to first Sunday of April).
DST_RULES: tuple[str, ...] = ("us", "eu", "au", "nz")

BY_CODE: dict[str, Country] = {c.code: c for c in COUNTRIES}

#: Countries a new honest worker is drawn from (weight > 0).
HOME_COUNTRIES: tuple[Country, ...] = tuple(c for c in COUNTRIES if c.weight > 0)


@lru_cache(maxsize=64)
def extended_asns(code: str, n: int = 12) -> tuple[int, ...]:
    """Return the country's ASNs padded with stable synthetic regional ones.

    Examples
    --------
    >>> asns = extended_asns("KE", 8)
    >>> len(asns), asns[:3] == BY_CODE["KE"].asns, asns == extended_asns("KE", 8)
    (8, True, True)
    """
    real = BY_CODE[code].asns
    extra: list[int] = []
    i = 0
    while len(real) + len(extra) < n:
        h = int.from_bytes(hashlib.blake2b(f"{code}:{i}".encode(), digest_size=4).digest())
        asn = 131_072 + h % 200_000
        if asn not in extra and asn not in real:
            extra.append(asn)
        i += 1
    return (real + tuple(extra))[:n] if len(real) >= n else real + tuple(extra)


def countries_near_offset(offset_min: int, tolerance_min: int = 90) -> list[tuple[Country, int]]:
    """Return (country, offset) pairs whose offset is within the tolerance (circular).

    Examples
    --------
    >>> sorted(c.code for c, _ in countries_near_offset(480, 0))
    ['CN', 'PH']
    """
    found: list[tuple[Country, int]] = []
    for country in COUNTRIES:
        for off in country.offsets_min:
            diff = abs(off - offset_min) % 1440
            if min(diff, 1440 - diff) <= tolerance_min:
                found.append((country, off))
    return found


def _sunday(year: int, month: int, nth: int) -> datetime:
    """Return the `nth` Sunday of a month (``nth=-1``: the last one) at 00:00 UTC."""
    if nth > 0:
        first = datetime(year, month, 1, tzinfo=UTC)
        return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (nth - 1))
    nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - 6) % 7)


@lru_cache(maxsize=256)
def dst_period(rule: str, std_offset_min: int, year: int) -> tuple[int, int]:
    """Return Unix seconds (start, end) of daylight-saving time of `year` under `rule`.

    For the southern rules (``au``, ``nz``) the period starts in that year's spring
    (September/October) and ends in the following April.

    Examples
    --------
    >>> from sim.times import format_time
    >>> [format_time(t) for t in dst_period("eu", 60, 2026)]
    ['2026-03-29T01:00:00Z', '2026-10-25T01:00:00Z']
    >>> [format_time(t) for t in dst_period("us", -300, 2026)]
    ['2026-03-08T07:00:00Z', '2026-11-01T06:00:00Z']
    """
    std = timedelta(minutes=std_offset_min)
    two = timedelta(hours=2)
    if rule == "us":
        start, end = (
            _sunday(year, 3, 2) + two - std,
            _sunday(year, 11, 1) + two - std - timedelta(hours=1),
        )
    elif rule == "eu":
        start, end = (
            _sunday(year, 3, -1) + timedelta(hours=1),
            _sunday(year, 10, -1) + timedelta(hours=1),
        )
    elif rule == "au":
        start, end = _sunday(year, 10, 1) + two - std, _sunday(year + 1, 4, 1) + two - std
    elif rule == "nz":
        start, end = _sunday(year, 9, -1) + two - std, _sunday(year + 1, 4, 1) + two - std
    else:
        raise ValueError(f"dst rule must be one of {DST_RULES}, got {rule!r}")
    return int(start.timestamp()), int(end.timestamp())


def offset_at(rule: str, std_offset_min: int, ts: int) -> int:
    """Return the UTC offset in minutes in force at `ts` (standard + 60 during DST).

    Examples
    --------
    >>> from sim.times import to_ts
    >>> offset_at("us", -300, to_ts("2026-10-31T12:00:00Z")), offset_at("us", -300,
    ...     to_ts("2026-11-02T12:00:00Z")), offset_at("", 330, 0)
    (-240, -300, 330)
    >>> offset_at("nz", 720, to_ts("2026-09-26T00:00:00Z")), offset_at("nz", 720,
    ...     to_ts("2026-09-28T00:00:00Z"))
    (720, 780)
    """
    if not rule:
        return std_offset_min
    year = datetime.fromtimestamp(ts, UTC).year
    for y in (year - 1, year):
        start, end = dst_period(rule, std_offset_min, y)
        if start <= ts < end:
            return std_offset_min + 60
    return std_offset_min


def dst_switches(rule: str, std_offset_min: int, lo_ts: int, hi_ts: int) -> list[int]:
    """Return the Unix seconds of the DST switches of `rule` in ``[lo_ts, hi_ts)``.

    Examples
    --------
    >>> from sim.times import format_time, to_ts
    >>> [format_time(t) for t in dst_switches("eu", 0, to_ts("2026-09-01T00:00:00Z"),
    ...     to_ts("2026-12-01T00:00:00Z"))]
    ['2026-10-25T01:00:00Z']
    """
    if not rule:
        return []
    y0 = datetime.fromtimestamp(lo_ts, UTC).year - 1
    y1 = datetime.fromtimestamp(hi_ts, UTC).year
    out = {
        t
        for y in range(y0, y1 + 1)
        for t in dst_period(rule, std_offset_min, y)
        if lo_ts <= t < hi_ts
    }
    return sorted(out)
