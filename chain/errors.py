"""Errors `chain/` raises on purpose; all subclass `reputation.errors.ReputationError`."""

from __future__ import annotations

from reputation.errors import ReputationError

__all__ = [
    "ChainError",
    "CheckpointError",
    "PublishError",
    "ReorgTooDeepError",
    "RpcError",
    "SanctionsFormatError",
    "ServiceListError",
]


class ChainError(ReputationError):
    """Root of the errors of the chain watcher and the sanctions loader."""


class RpcError(ChainError):
    """The EVM node did not answer as JSON-RPC says it should.

    Operators: check that ``--rpc`` points at a synced node that serves
    ``eth_getLogs`` by ``blockHash`` (EIP-234); the watcher retries on its own.
    """


class CheckpointError(ChainError):
    """The checkpoint file cannot be read or belongs to another chain.

    Operators: point ``--checkpoint`` at this chain's file, or move the file
    away and restart with ``--from-block`` set to the block after the last one
    that reached ``vigil.transfers``.
    """


class ReorgTooDeepError(ChainError):
    """A reorganisation removed more published blocks than the checkpoint remembers.

    Operators: raise ``--confirmations``; restart with ``--from-block`` at a
    block before the fork (consumers count re-sent transfers once).
    """

    def __init__(self, block_number: int, detail: str) -> None:
        super().__init__(detail)
        self.block_number = block_number


class PublishError(ChainError):
    """Kafka did not acknowledge every message of a batch; nothing was checkpointed.

    Operators: check the brokers named by ``--bootstrap``; the next attempt
    re-sends the whole batch (at-least-once).
    """


class SanctionsFormatError(ChainError, ValueError):
    """A sanctions file is neither the CSV nor the OFAC XML format Vigil reads.

    Operators: pass ``--format csv`` or ``--format xml`` explicitly and check
    that the file is OFAC's ``SDN.XML`` / ``sdn_advanced.xml`` or the CSV of
    ``chain/data/``.
    """


class ServiceListError(ChainError, ValueError):
    """A service-address list (``chain/data/service_addresses.csv`` or its format) is invalid.

    Operators: fix the named row (an EIP-55 address, a label, a category of
    exchange, dex, bridge or contract, a source and an ``as_of`` date), or
    set ``VIGIL_SHIPPED_SERVICES=false`` to start without the shipped list.
    """

    def __init__(self, row: int, detail: str) -> None:
        super().__init__(f"row {row}: {detail}")
        self.row = row
