"""The watcher against the in-memory chain: confirmations, reorgs, checkpoints, failures."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.checkpoint import Checkpoint, MemoryCheckpointStore
from chain.errors import CheckpointError, PublishError, ReorgTooDeepError, RpcError
from chain.fake_chain import FakeChain
from chain.publisher import MemoryTransferSink
from chain.rpc import TRANSFER_TOPIC, LogEntry
from chain.watcher import NATIVE_LOG_INDEX, WatchConfig, Watcher
from reputation.errors import ConfigError
from reputation.events import TransferEvent, parse_transfer

TOKEN = "0x" + "ab" * 20
A, B, C = "0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20


def make(
    chain: FakeChain,
    confirmations: int = 2,
    store: MemoryCheckpointStore | None = None,
    *,
    from_block: int = 1,
    max_blocks_per_poll: int = 200,
) -> tuple[Watcher, MemoryTransferSink, MemoryCheckpointStore]:
    sink = MemoryTransferSink()
    store = store or MemoryCheckpointStore()
    config = WatchConfig(
        tokens=frozenset({TOKEN}),
        confirmations=confirmations,
        from_block=from_block,
        max_blocks_per_poll=max_blocks_per_poll,
    )
    return Watcher(chain, sink, store, config), sink, store


def canonical_events(chain: FakeChain, through: int) -> list[str]:
    """Event ids a perfect watcher publishes for blocks 1..through."""
    w, sink, _ = make(FakeChain(), 0)
    w.reader = chain
    ids = []
    for n in range(1, through + 1):
        h = chain.header(n)
        assert h is not None
        for x in sorted(chain.native_transfers(h.hash) or [], key=lambda x: x.tx_index):
            ids.append(f"{chain.chain_id_value}:{x.tx_hash}:-1")
        for x in sorted(chain.transfer_logs(h.hash, [TOKEN]) or [], key=lambda x: x.log_index):
            ids.append(f"{chain.chain_id_value}:{x.tx_hash}:{x.log_index}")
    return ids


def test_publishes_token_and_native_transfers_once_confirmed() -> None:
    chain = FakeChain(decimals={TOKEN: 6})
    chain.mine(transfers=[(TOKEN, A, B, 12_500_000)], natives=[(A, C, 10**18)])
    w, sink, store = make(chain, confirmations=2)
    w.poll()
    assert sink.events == []  # block 1 has no confirmations yet
    chain.mine()
    w.poll()
    assert sink.events == []
    chain.mine()
    result = w.poll()
    assert result.published_through == 1
    native, token = sink.events
    assert (native.token, native.log_index, native.amount, native.decimals) == (
        "ETH",
        NATIVE_LOG_INDEX,
        10**18,
        18,
    )
    assert native.event_id == f"31337:{native.tx_hash}:-1"
    assert (token.token, token.sender, token.recipient, token.amount, token.decimals) == (
        TOKEN,
        A,
        B,
        12_500_000,
        6,
    )
    header = chain.header(1)
    assert header is not None and token.block_time.timestamp() == header.timestamp
    # what goes on the wire parses back to the same event
    assert parse_transfer(token.to_json()) == token
    assert store.checkpoint is not None and store.checkpoint.block_number == 1


def test_reorg_in_the_unconfirmed_tail_is_never_published() -> None:
    chain = FakeChain()
    chain.mine()
    w, sink, _ = make(chain, confirmations=2)
    w.poll()
    chain.mine(transfers=[(TOKEN, A, B, 1)])  # block 2: will be orphaned
    chain.mine()
    w.poll()
    assert sink.events == []
    chain.reorg(2)
    chain.mine(transfers=[(TOKEN, A, C, 2)])  # the new block 2
    chain.mine()
    chain.mine()
    chain.mine()
    w.poll()
    assert [(e.recipient, e.amount) for e in sink.events] == [(C, 2)]
    assert w.stats.orphaned_held >= 1
    assert [e.event_id for e in sink.events] == canonical_events(chain, 3)


def test_reorg_deeper_than_confirmations_rewinds_to_the_fork() -> None:
    chain = FakeChain()
    chain.mine()
    chain.mine(transfers=[(TOKEN, A, B, 1)])
    w, sink, store = make(chain, confirmations=0)
    w.poll()
    assert len(sink.events) == 1
    chain.reorg(1)
    chain.mine(transfers=[(TOKEN, A, C, 2)])
    w.poll()
    assert [e.amount for e in sink.events] == [1, 2]  # the orphaned one cannot be taken back
    assert w.stats.orphaned_published == 1
    assert store.checkpoint is not None
    header = chain.header(2)
    assert header is not None and store.checkpoint.block_hash == header.hash


def test_reorg_past_the_remembered_hashes_stops_the_watcher() -> None:
    chain = FakeChain()
    chain.mine()
    w, _, store = make(chain, confirmations=0)
    w.poll()
    assert store.checkpoint is not None
    store.checkpoint = Checkpoint(31337, 1, "0x" + "ee" * 32, ((1, "0x" + "ee" * 32),))
    w2, _, _ = make(chain, confirmations=0, store=store)
    with pytest.raises(ReorgTooDeepError):
        w2.poll()


def test_publish_failure_keeps_the_checkpoint_and_retries() -> None:
    chain = FakeChain()
    for i in range(4):
        chain.mine(transfers=[(TOKEN, A, B, i + 1)])
    w, sink, store = make(chain, confirmations=0)
    sink.fail_next = 1
    with pytest.raises(PublishError):
        w.poll()
    assert store.checkpoint is not None and store.checkpoint.block_number == 0
    w.poll()
    assert store.checkpoint.block_number == 4
    # at-least-once: the half-sent batch is sent again in full
    assert [e.amount for e in sink.events] == [1, 2, 1, 2, 3, 4]
    assert w.stats.publish_failures == 1


def test_rpc_failure_is_counted_and_the_next_poll_resumes() -> None:
    chain = FakeChain()
    chain.mine(transfers=[(TOKEN, A, B, 7)])
    w, sink, _ = make(chain, confirmations=0)
    w.poll()
    chain.mine(transfers=[(TOKEN, A, B, 8)])
    chain.fail_next = 1
    with pytest.raises(RpcError):
        w.poll()
    w.poll()
    assert [e.amount for e in sink.events] == [7, 8]
    assert w.stats.rpc_failures == 1


def test_restart_from_checkpoint_neither_skips_nor_repeats() -> None:
    chain = FakeChain()
    store = MemoryCheckpointStore()
    w1, sink1, _ = make(chain, confirmations=1, store=store)
    for i in range(5):
        chain.mine(transfers=[(TOKEN, A, B, i + 1)])
        w1.poll()
    # a new process from the same checkpoint; --from-block is ignored then
    w2, sink2, _ = make(chain, confirmations=1, store=store, from_block=0)
    for i in range(5, 9):
        chain.mine(transfers=[(TOKEN, A, B, i + 1)])
        w2.poll()
    ids = [e.event_id for e in sink1.events + sink2.events]
    assert ids == canonical_events(chain, 8)
    assert len(ids) == len(set(ids))


def test_checkpoint_of_another_chain_is_refused() -> None:
    chain = FakeChain()
    w, _, _ = make(chain, store=MemoryCheckpointStore(Checkpoint(1, 5, "0x" + "00" * 32)))
    with pytest.raises(CheckpointError):
        w.poll()


def test_without_checkpoint_or_from_block_starts_at_the_confirmed_head() -> None:
    chain = FakeChain()
    for _ in range(10):
        chain.mine(transfers=[(TOKEN, A, B, 1)])
    sink, store = MemoryTransferSink(), MemoryCheckpointStore()
    w = Watcher(chain, sink, store, WatchConfig(tokens=frozenset({TOKEN}), confirmations=3))
    w.poll()
    assert sink.events == [] and store.checkpoint is not None
    assert store.checkpoint.block_number == 7  # saved at start: a restart begins here too
    chain.mine()
    w.poll()
    assert [e.block_number for e in sink.events] == [8]


def test_non_erc20_logs_are_skipped() -> None:
    chain = FakeChain()
    chain.mine(transfers=[(TOKEN, A, B, 5)])
    block = chain._blocks[-1]
    nft = LogEntry(
        block.logs[0].tx_hash,
        1,
        TOKEN,
        (TRANSFER_TOPIC, "0x" + "00" * 32, "0x" + "00" * 32, "0x" + "00" * 31 + "01"),
        "0x",
    )
    block.logs.append(nft)
    w, sink, _ = make(chain, confirmations=0)
    w.poll()
    assert [e.amount for e in sink.events] == [5]
    assert w.stats.skipped_logs == 1


def test_bad_config() -> None:
    with pytest.raises(ConfigError):
        WatchConfig(confirmations=-1)
    with pytest.raises(ConfigError):
        WatchConfig(tokens=frozenset({"0x" + "AB" * 20}))
    with pytest.raises(ConfigError):
        WatchConfig(native=False)


# ----- a property over random mining, reorgs and polls ---------------------------------------

Op = tuple[str, int]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 3),
    st.lists(st.tuples(st.sampled_from(["mine", "poll", "reorg"]), st.integers(1, 3)), max_size=40),
)
def test_never_publishes_an_orphaned_block(confirmations: int, ops: list[Op]) -> None:
    chain = FakeChain()
    w, sink, store = make(chain, confirmations=confirmations, max_blocks_per_poll=2)
    orphaned: set[str] = set()
    n = 0
    for op, k in ops:
        if op == "mine":
            for _ in range(k):
                n += 1
                chain.mine(transfers=[(TOKEN, A, B, n)], natives=[(A, C, n)])
        elif op == "reorg":
            # only reorgs the confirmations can absorb: at most `confirmations` blocks below
            # the highest head so far, so the replacement chain grows past the old head
            depth = min(k, confirmations, chain.head_number())
            if depth:
                for b in chain._blocks[-depth:]:
                    orphaned |= {x.tx_hash for x in b.logs}
                    orphaned |= {x.tx_hash for x in b.natives}
                chain.reorg(depth)
                for _ in range(depth + 1):
                    n += 1
                    chain.mine(transfers=[(TOKEN, B, C, n)])
        else:
            w.poll()
    for _ in range(20):  # settle: mine enough to confirm everything, then catch up
        chain.mine()
        w.poll()
    published: list[TransferEvent] = sink.events
    assert not {e.tx_hash for e in published} & orphaned
    assert store.checkpoint is not None
    through = store.checkpoint.block_number
    assert [e.event_id for e in published] == canonical_events(chain, through)
