"""Countries where simulated workers live: UTC offsets, network ASNs, population weights.

Offsets are those in force in September-October (no daylight-saving switch is
simulated); ASNs are real access networks of each country where we know them,
padded with per-country synthetic ones for workers who roam over many networks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Country:
    """A country: ISO code, the UTC offsets (minutes) of its zones, ASNs, weight."""

    code: str
    offsets_min: tuple[int, ...]
    asns: tuple[int, ...]
    weight: float


COUNTRIES: tuple[Country, ...] = (
    Country("US", (-240, -300, -360, -420), (7922, 7018, 701, 21928, 20115), 14.0),
    Country("IN", (330,), (24560, 55836, 9829, 45609), 14.0),
    Country("PH", (480,), (9299, 132199, 10139), 9.0),
    Country("KE", (180,), (33771, 36926, 37061), 6.0),
    Country("NG", (60,), (29465, 37148, 36873), 6.0),
    Country("PK", (300,), (17557, 45669, 59257), 5.0),
    Country("BD", (360,), (24389, 24432, 45245), 5.0),
    Country("VE", (-240,), (8048, 27889), 3.0),
    Country("BR", (-180,), (28573, 18881, 26599), 6.0),
    Country("UA", (180,), (15895, 21497, 25229), 3.0),
    Country("GB", (60,), (2856, 5089, 5607), 4.0),
    Country("DE", (120,), (3320, 3209, 6805), 3.0),
    Country("ID", (420,), (7713, 23693, 4761), 5.0),
    Country("EG", (180,), (8452, 24835, 36935), 4.0),
    Country("MX", (-360,), (8151, 28403, 13999), 4.0),
    Country("VN", (420,), (7552, 45899, 18403), 4.0),
    Country("CN", (480,), (4134, 4837, 9808), 0.0),
    Country("RU", (180,), (12389, 8359, 3216), 0.0),
    Country("AU", (600,), (1221, 4804, 7545), 1.0),
    Country("JP", (540,), (2516, 17676, 4713), 1.0),
    Country("NZ", (720,), (9500, 4771), 0.3),
    Country("AR", (-180,), (7303, 22927), 1.0),
    Country("CO", (-300,), (3816, 10620), 1.5),
    Country("TH", (420,), (7470, 45758), 1.0),
    Country("AE", (240,), (5384, 15802), 0.5),
)

#: Hosting and VPN networks, used by account-takeover operators.
VPN_ASNS: tuple[int, ...] = (16509, 14061, 9009, 60068, 212238, 20473)

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
