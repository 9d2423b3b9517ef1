"""The 2048-bit logs bloom of a block header, to skip ``eth_getLogs`` on blocks with no match.

A bloom never misses a log that is there (no false negatives), so skipping a
block whose bloom lacks the Transfer topic or every watched token is safe. On
mainnet most blocks hold some USDC Transfer, so this mostly helps small tokens
and test chains; a block with a match still costs one ``eth_getLogs``.
"""

from __future__ import annotations

from collections.abc import Iterable

from Crypto.Hash import keccak

__all__ = ["bloom_bits", "bloom_may_contain", "bloom_may_match"]


def bloom_bits(item: bytes) -> tuple[int, int, int]:
    """Return the three bit positions (0 = least significant) that `item` sets.

    References
    ----------
    G. Wood. Ethereum: a secure decentralised generalised transaction ledger
    (Yellow Paper), section 4.3.1, function M3:2048.
    """
    d = keccak.new(digest_bits=256, data=item).digest()
    return ((d[0] << 8 | d[1]) & 0x7FF, (d[2] << 8 | d[3]) & 0x7FF, (d[4] << 8 | d[5]) & 0x7FF)


def bloom_may_contain(bloom: bytes, item: bytes) -> bool:
    """Tell whether `item` (an address or a topic, as raw bytes) may be in the bloom."""
    if len(bloom) != 256:
        return True  # no usable bloom: never skip
    value = int.from_bytes(bloom, "big")
    return all(value >> bit & 1 for bit in bloom_bits(item))


def bloom_may_match(bloom: bytes, topic: bytes, addresses: Iterable[bytes]) -> bool:
    """Tell whether a log with `topic` from one of `addresses` may be in the block."""
    return bloom_may_contain(bloom, topic) and any(bloom_may_contain(bloom, a) for a in addresses)
