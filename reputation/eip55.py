"""EIP-55 mixed-case checksums for EVM addresses.

Keccak-256 is not in the standard library (``hashlib.sha3_256`` is NIST SHA-3,
which pads differently), so this module uses pycryptodome's Keccak, a pure
computation with no I/O; it is the one non-numpy third-party import of the core.
"""

from __future__ import annotations

from Crypto.Hash import keccak

__all__ = ["checksum_address", "is_valid_checksum"]


def checksum_address(lower_hex40: str) -> str:
    """Return the EIP-55 form of a lower-case 40-hex-digit address (no ``0x``).

    Examples
    --------
    >>> checksum_address("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'

    References
    ----------
    V. Buterin, A. Van de Sande (2016). EIP-55: Mixed-case checksum address encoding.
    """
    digest = keccak.new(digest_bits=256, data=lower_hex40.encode("ascii")).hexdigest()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(d, 16) >= 8 else c
        for c, d in zip(lower_hex40, digest, strict=False)
    )


def is_valid_checksum(address: str) -> bool:
    """Tell whether a ``0x`` + 40-hex address is all-lower, all-upper or correctly mixed.

    Examples
    --------
    >>> is_valid_checksum("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
    True
    >>> is_valid_checksum("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
    False
    """
    body = address[2:]
    if body == body.lower() or body == body.upper():
        return True
    return checksum_address(body.lower()) == address
