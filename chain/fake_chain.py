"""An in-memory `ChainReader` for unit tests: mining, reorgs and injected RPC failures."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from chain.errors import RpcError
from chain.rpc import TRANSFER_TOPIC, BlockHeader, LogEntry, NativeTransfer

__all__ = ["FakeChain"]


@dataclass(slots=True)
class _FakeBlock:
    header: BlockHeader
    natives: list[NativeTransfer]
    logs: list[LogEntry]


def _fake_hash(*parts: object) -> str:
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


@dataclass
class FakeChain:
    """An in-memory `ChainReader` with mining and reorgs, for unit tests.

    Blocks off the canonical chain answer None, as a strict node does.
    ``fail_next`` makes the next that many calls raise `RpcError`.

    Examples
    --------
    >>> chain = FakeChain()
    >>> _ = chain.mine(); _ = chain.mine()
    >>> chain.head_number(), chain.header(2).parent_hash == chain.header(1).hash
    (2, True)
    """

    chain_id_value: int = 31337
    start_time: int = 1_780_000_000
    block_time_s: int = 12
    decimals: dict[str, int] = field(default_factory=dict)
    fail_next: int = 0
    calls: int = 0
    _blocks: list[_FakeBlock] = field(default_factory=list)
    _salt: int = 0

    def __post_init__(self) -> None:
        genesis = BlockHeader(0, _fake_hash("genesis"), "0x" + "00" * 32, self.start_time)
        self._blocks = [_FakeBlock(genesis, [], [])]

    def _tick(self) -> None:
        self.calls += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            raise RpcError("fake: connection refused")

    def mine(
        self,
        *,
        natives: Sequence[tuple[str, str, int]] = (),
        transfers: Sequence[tuple[str, str, str, int]] = (),
        failed_natives: Sequence[tuple[str, str, int]] = (),
    ) -> BlockHeader:
        """Append a block with native (from, to, wei) and token (token, from, to, amount) transfers.

        ``failed_natives`` are value transactions that reverted: in the block, not transfers.
        """
        parent = self._blocks[-1].header
        number = parent.number + 1
        self._salt += 1
        h = _fake_hash(number, parent.hash, self._salt, tuple(natives), tuple(transfers))
        header = BlockHeader(number, h, parent.hash, self.start_time + number * self.block_time_s)
        block = _FakeBlock(header, [], [])
        tx_index = 0
        for sender, recipient, wei in natives:
            block.natives.append(
                NativeTransfer(
                    _fake_hash(h, "tx", tx_index), tx_index, sender.lower(), recipient.lower(), wei
                )
            )
            tx_index += 1
        tx_index += len(failed_natives)
        for log_index, (token, sender, recipient, amount) in enumerate(transfers):
            topics = (
                TRANSFER_TOPIC,
                "0x" + "00" * 12 + sender.lower()[2:],
                "0x" + "00" * 12 + recipient.lower()[2:],
            )
            block.logs.append(
                LogEntry(
                    _fake_hash(h, "tx", tx_index),
                    log_index,
                    token.lower(),
                    topics,
                    "0x" + f"{amount:064x}",
                )
            )
            tx_index += 1
        self._blocks.append(block)
        return header

    def reorg(self, depth: int) -> None:
        """Drop the newest `depth` blocks; mine the replacement chain afterwards."""
        if not 0 < depth < len(self._blocks):
            raise ValueError(f"depth must be within 1..{len(self._blocks) - 1}, got {depth}")
        del self._blocks[-depth:]

    def _by_hash(self, block_hash: str) -> _FakeBlock | None:
        for b in reversed(self._blocks):
            if b.header.hash == block_hash:
                return b
        return None

    def chain_id(self) -> int:
        self._tick()
        return self.chain_id_value

    def head_number(self) -> int:
        self._tick()
        return self._blocks[-1].header.number

    def header(self, number: int) -> BlockHeader | None:
        self._tick()
        return self._blocks[number].header if 0 <= number < len(self._blocks) else None

    def native_transfers(self, block_hash: str) -> list[NativeTransfer] | None:
        self._tick()
        b = self._by_hash(block_hash)
        return None if b is None else list(b.natives)

    def transfer_logs(self, block_hash: str, tokens: Sequence[str]) -> list[LogEntry] | None:
        self._tick()
        b = self._by_hash(block_hash)
        wanted = {t.lower() for t in tokens}
        return None if b is None else [x for x in b.logs if x.address in wanted]

    def token_decimals(self, token: str) -> int:
        self._tick()
        return self.decimals.get(token.lower(), 6)
