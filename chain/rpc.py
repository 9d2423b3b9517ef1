"""Reading an EVM node: the `ChainReader` interface, its web3 implementation and a fake.

The watcher needs five answers from a node: the chain id, the head number,
a block header by number, the successful native value transfers of a block
and the ERC-20 ``Transfer`` logs of a block. Blocks are fetched *by hash*
after their header, so the contents always belong to the header the watcher
checked against its parent; a block that was orphaned in between answers
None and the watcher looks again.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from eth_typing import HexStr
from hexbytes import HexBytes

from chain.errors import RpcError

__all__ = [
    "TRANSFER_TOPIC",
    "BlockHeader",
    "ChainReader",
    "LogEntry",
    "NativeTransfer",
    "Web3ChainReader",
    "import_web3",
    "topic_address",
]

log = logging.getLogger(__name__)

#: keccak("Transfer(address,address,uint256)"), topic 0 of an ERC-20 Transfer log.
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """What the watcher keeps of a block header; hashes are lower-case ``0x`` hex."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
    logs_bloom: bytes = b""


@dataclass(frozen=True, slots=True)
class NativeTransfer:
    """A successful top-level transaction that moved ETH (value > 0)."""

    tx_hash: str
    tx_index: int
    sender: str
    recipient: str
    value_wei: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log of a block, as the node returned it."""

    tx_hash: str
    log_index: int
    address: str
    topics: tuple[str, ...]
    data: str


def import_web3() -> Any:
    """Import web3 without the DeprecationWarning of its legacy WebSocket module.

    web3 7.16 imports ``websockets.legacy`` at import time, which websockets
    >= 14 marks deprecated; pytest runs with warnings as errors. The warning
    is the library's, not ours.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="websockets.legacy is deprecated", category=DeprecationWarning
        )
        import web3

        return web3


class ChainReader(Protocol):
    """The questions the watcher asks an EVM node."""

    def chain_id(self) -> int: ...

    def head_number(self) -> int: ...

    def header(self, number: int) -> BlockHeader | None:
        """Return the canonical header at `number`, or None beyond the head."""
        ...

    def native_transfers(self, block_hash: str) -> list[NativeTransfer] | None:
        """Return the successful value transfers of a block, or None if it is unknown."""
        ...

    def transfer_logs(self, block_hash: str, tokens: Sequence[str]) -> list[LogEntry] | None:
        """Return the Transfer logs of `tokens` in a block, or None if it is unknown."""
        ...

    def token_decimals(self, token: str) -> int: ...


def topic_address(topic: str) -> str:
    """Return the address in a 32-byte indexed topic.

    Examples
    --------
    >>> topic_address("0x000000000000000000000000" + "ab" * 20)
    '0xabababababababababababababababababababab'
    """
    return "0x" + topic[-40:].lower()


def _hex(value: object) -> str:
    """Lower-case ``0x`` hex of HexBytes, bytes or a hex string."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    text = str(value)
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)


class Web3ChainReader:
    """`ChainReader` over web3.py: HTTP(S) or WebSocket (``ws://``, ``wss://``) JSON-RPC.

    Parameters
    ----------
    url
        The node's JSON-RPC URL; it may embed an API key, so it is never logged.
    timeout_s
        Per-request timeout.
    """

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        import_web3()
        from web3 import HTTPProvider, LegacyWebSocketProvider, Web3

        if url.startswith(("ws://", "wss://")):
            provider: object = LegacyWebSocketProvider(url, websocket_timeout=int(timeout_s))
        elif url.startswith(("http://", "https://")):
            provider = HTTPProvider(url, request_kwargs={"timeout": timeout_s})
        else:
            raise RpcError("rpc url must start with http://, https://, ws:// or wss://")
        self._w3 = Web3(provider)  # type: ignore[arg-type]  # one of web3's own providers
        self._receipts_by_block = True  # eth_getBlockReceipts, until a node refuses it

    @property
    def web3(self) -> object:
        """The underlying `web3.Web3` (for tests and tools)."""
        return self._w3

    def _call(self, what: str, fn: Callable[[], object]) -> object:
        from web3.exceptions import Web3Exception

        try:
            return fn()
        except (OSError, ValueError, Web3Exception) as exc:
            # web3 raises ValueError/Web3RPCError for JSON-RPC errors, OSError
            # (requests' ConnectionError) for transport failures.
            raise RpcError(f"{what} failed: {type(exc).__name__}: {str(exc)[:200]}") from exc

    def chain_id(self) -> int:
        return int(cast(int, self._call("eth_chainId", lambda: self._w3.eth.chain_id)))

    def head_number(self) -> int:
        return int(cast(int, self._call("eth_blockNumber", lambda: self._w3.eth.block_number)))

    def _block(self, ident: int | str, full: bool) -> Mapping[str, object] | None:
        from web3.exceptions import BlockNotFound

        block_id = HexStr(ident) if isinstance(ident, str) else ident

        def get() -> object:
            try:
                return self._w3.eth.get_block(block_id, full_transactions=full)
            except BlockNotFound:
                return None

        return cast(Mapping[str, object] | None, self._call("eth_getBlock", get))

    def header(self, number: int) -> BlockHeader | None:
        block = self._block(number, False)
        if block is None:
            return None
        return BlockHeader(
            number=int(cast(int, block["number"])),
            hash=_hex(block["hash"]),
            parent_hash=_hex(block["parentHash"]),
            timestamp=int(cast(int, block["timestamp"])),
            logs_bloom=_bytes(block.get("logsBloom", b"")),
        )

    def native_transfers(self, block_hash: str) -> list[NativeTransfer] | None:
        block = self._block(block_hash, True)
        if block is None:
            return None
        valued = []
        for tx in cast(list[Mapping[str, object]], block["transactions"]):
            if int(cast(int, tx["value"])) > 0 and tx.get("to") is not None:
                valued.append(tx)
        if not valued:
            return []
        ok = self._successful(block_hash, [_hex(tx["hash"]) for tx in valued])
        if ok is None:
            return None
        return [
            NativeTransfer(
                tx_hash=_hex(tx["hash"]),
                tx_index=int(cast(int, tx["transactionIndex"])),
                sender=str(tx["from"]).lower(),
                recipient=str(tx["to"]).lower(),
                value_wei=int(cast(int, tx["value"])),
            )
            for tx in valued
            if _hex(tx["hash"]) in ok
        ]

    def _successful(self, block_hash: str, tx_hashes: list[str]) -> set[str] | None:
        """Return the hashes among `tx_hashes` whose receipt in this block has status 1."""
        from web3.exceptions import TransactionNotFound

        receipts: list[Mapping[str, object]] = []
        if self._receipts_by_block:
            try:
                receipts = cast(
                    list[Mapping[str, object]],
                    self._call(
                        "eth_getBlockReceipts",
                        lambda: self._w3.eth.get_block_receipts(HexStr(block_hash)),
                    ),
                )
            except RpcError as exc:
                log.info(
                    "eth_getBlockReceipts unavailable, falling back to receipts per "
                    "transaction: %s",
                    exc,
                )
                self._receipts_by_block = False
        if not self._receipts_by_block:
            for h in tx_hashes:

                def get(h: str = h) -> object:
                    try:
                        return self._w3.eth.get_transaction_receipt(HexStr(h))
                    except TransactionNotFound:
                        return None

                r = self._call("eth_getTransactionReceipt", get)
                if r is None:
                    return None
                receipts.append(cast(Mapping[str, object], r))
        wanted = set(tx_hashes)
        ok = set()
        for r in receipts:
            if _hex(r["blockHash"]) != block_hash:
                return None  # the transaction moved to another block: a reorg under us
            h = _hex(r["transactionHash"])
            if h in wanted and int(cast(int, r.get("status", 1))) == 1:
                ok.add(h)
        return ok

    def transfer_logs(self, block_hash: str, tokens: Sequence[str]) -> list[LogEntry] | None:
        from web3 import Web3

        if not tokens:
            return []
        from web3.types import FilterParams

        params: FilterParams = {
            "blockHash": HexBytes(block_hash),
            "address": [Web3.to_checksum_address(t) for t in tokens],
            # a 0x string: HexBytes topics are silently ignored by some providers
            "topics": [HexStr(TRANSFER_TOPIC)],
        }
        try:
            raw = cast(
                list[Mapping[str, object]],
                self._call("eth_getLogs", lambda: self._w3.eth.get_logs(params)),
            )
        except RpcError as exc:
            if "not found" in str(exc).lower() or "unknown block" in str(exc).lower():
                return None
            raise
        out = []
        for x in raw:
            if x.get("removed"):
                continue
            if _hex(x["blockHash"]) != block_hash:
                return None
            out.append(
                LogEntry(
                    tx_hash=_hex(x["transactionHash"]),
                    log_index=int(cast(int, x["logIndex"])),
                    address=str(x["address"]).lower(),
                    topics=tuple(_hex(t) for t in cast(list[object], x["topics"])),
                    data=_hex(x["data"]),
                )
            )
        return out

    def token_decimals(self, token: str) -> int:
        from web3 import Web3

        def call() -> object:
            data = self._w3.eth.call(
                {"to": Web3.to_checksum_address(token), "data": HexStr("0x313ce567")}
            )  # decimals()
            return int.from_bytes(bytes(data), "big") if data else None

        value = self._call("eth_call decimals()", call)
        if not isinstance(value, int) or not 0 <= value <= 36:
            raise RpcError(f"token {token}: decimals() must return 0..36, got {value!r}")
        return value
