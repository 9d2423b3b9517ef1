"""Deterministic synthetic identifiers: addresses, transaction hashes, device ids.

Every identifier is a hash of the run seed and a label (``"wallet:w-17:0"``), so
it does not depend on the order in which the generator asks for it and two runs
with the same seed agree byte for byte.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from eth_utils.address import to_checksum_address

#: USD Coin on Ethereum mainnet: the USDC-like token of every simulated transfer.
USDC_TOKEN = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"  # noqa: S105 - not a secret
USDC_DECIMALS = 6
ETH_DECIMALS = 18
CHAIN_ID = 1


def _digest(seed: int, label: str, size: int) -> bytes:
    return hashlib.blake2b(f"{seed}|{label}".encode(), digest_size=size).digest()


def derive_address(seed: int, label: str) -> str:
    """Return a lower-case ``0x`` + 40 hex address derived from the seed and a label.

    Examples
    --------
    >>> a = derive_address(1, "wallet:w-1:0")
    >>> a == derive_address(1, "wallet:w-1:0"), len(a), a == a.lower()
    (True, 42, True)
    """
    return "0x" + _digest(seed, "addr:" + label, 20).hex()


def derive_tx_hash(seed: int, label: str) -> str:
    """Return a ``0x`` + 64 hex transaction hash derived from the seed and a label.

    Examples
    --------
    >>> len(derive_tx_hash(1, "payout:7"))
    66
    """
    return "0x" + _digest(seed, "tx:" + label, 32).hex()


def derive_device_id(seed: int, label: str) -> str:
    """Return a device id such as ``d-1a2b3c4d``.

    Examples
    --------
    >>> derive_device_id(1, "w-1:0").startswith("d-")
    True
    """
    return "d-" + _digest(seed, "device:" + label, 4).hex()


@lru_cache(maxsize=65_536)
def checksum(address: str) -> str:
    """Return the EIP-55 mixed-case form of an address (cached: hashing is slow).

    Examples
    --------
    >>> checksum("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'
    """
    return str(to_checksum_address(address))


def present(address: str, checksummed: bool) -> str:
    """Return the address as it appears in an event: EIP-55 or all lower-case.

    Examples
    --------
    >>> present("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", False)
    '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed'
    """
    return checksum(address.lower()) if checksummed else address.lower()


def format_units(value: int, decimals: int, min_places: int = 0) -> str:
    """Return an integer amount in smallest units as a decimal string (no floats).

    Parameters
    ----------
    value
        Amount in the token's smallest unit (cents, micro-USDC, wei, ...).
    decimals
        Number of decimal places of the unit.
    min_places
        Keep at least this many decimal places (``2`` gives ``"12.50"``).

    Examples
    --------
    >>> format_units(1250, 2, 2), format_units(4_200_000_000_000_000, 18), format_units(7, 0)
    ('12.50', '0.0042', '7')
    """
    if value < 0:
        raise ValueError(f"amount must be >= 0, got {value}")
    whole, frac = divmod(value, 10**decimals)
    if decimals == 0:
        return str(whole)
    digits = f"{frac:0{decimals}d}".rstrip("0")
    if len(digits) < min_places:
        digits = digits.ljust(min_places, "0")
    return f"{whole}.{digits}" if digits else str(whole)
