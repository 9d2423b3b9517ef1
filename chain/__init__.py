"""Vigil's edge to the outside world of blockchains and sanctions lists.

``chain`` turns an EVM node (JSON-RPC) into `reputation.events.TransferEvent`
values on ``vigil.transfers``, and OFAC's SDN list (CSV or XML) into
`reputation.events.SanctionEntry` messages on ``vigil.sanctions``. Every
outside system sits behind a Protocol with a real implementation and an
in-memory fake: `ChainReader` (web3), `TransferSink` / `RecordSink`
(kafka-python), `CheckpointStore` (a file) and `SanctionsSource` (the
compacted topic). The judgement itself (who is linked to whom) lives in
`reputation.exposure`.
"""

from __future__ import annotations

from chain.checkpoint import Checkpoint, CheckpointStore, FileCheckpointStore, MemoryCheckpointStore
from chain.errors import (
    ChainError,
    CheckpointError,
    PublishError,
    ReorgTooDeepError,
    RpcError,
    SanctionsFormatError,
)
from chain.fake_chain import FakeChain
from chain.publisher import (
    KafkaRecordSink,
    KafkaTransferSink,
    MemoryRecordSink,
    MemoryTransferSink,
    RecordSink,
    TransferSink,
)
from chain.rpc import BlockHeader, ChainReader, Web3ChainReader
from chain.sanctions import (
    CurrentEntry,
    SanctionsDiff,
    SanctionsList,
    diff_lists,
    load_sanctions_file,
    parse_sanctions_csv,
    parse_sanctions_xml,
)
from chain.sanctions_topic import (
    KafkaSanctionsSource,
    MemorySanctionsTopic,
    SanctionsSource,
    publish_sanctions,
)
from chain.watcher import NATIVE_LOG_INDEX, NATIVE_TOKEN, WatchConfig, Watcher

__all__ = [
    "NATIVE_LOG_INDEX",
    "NATIVE_TOKEN",
    "BlockHeader",
    "ChainError",
    "ChainReader",
    "Checkpoint",
    "CheckpointError",
    "CheckpointStore",
    "CurrentEntry",
    "FakeChain",
    "FileCheckpointStore",
    "KafkaRecordSink",
    "KafkaSanctionsSource",
    "KafkaTransferSink",
    "MemoryCheckpointStore",
    "MemoryRecordSink",
    "MemorySanctionsTopic",
    "MemoryTransferSink",
    "PublishError",
    "RecordSink",
    "ReorgTooDeepError",
    "RpcError",
    "SanctionsDiff",
    "SanctionsFormatError",
    "SanctionsList",
    "SanctionsSource",
    "TransferSink",
    "WatchConfig",
    "Watcher",
    "Web3ChainReader",
    "diff_lists",
    "load_sanctions_file",
    "parse_sanctions_csv",
    "parse_sanctions_xml",
    "publish_sanctions",
]
