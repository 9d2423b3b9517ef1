"""`vigil chain watch`: follow an EVM node and publish confirmed transfers.

How it works, once per poll:

1. Check that the newest block it holds is still canonical; if not, drop held
   blocks back to the fork point (they were never published).
2. Fetch the blocks after it up to the head: the header by number, then its
   contents by hash (ERC-20 ``Transfer`` logs of the configured tokens, and
   successful top-level transactions with value). Each header must name the
   previous block as its parent; if not, a reorg is under way and step 1 runs
   again.
3. Publish every held block that has `confirmations` blocks on top of it,
   wait for Kafka's acknowledgement, then save the checkpoint. A failed
   publish leaves the checkpoint alone and the batch is sent again.

Nothing from a block that is orphaned while held is ever published. A reorg
deeper than `confirmations` (it orphans published blocks) is found through the
hashes the checkpoint keeps: the watcher logs an error, rewinds to the fork
point and publishes the new chain; the transfers already sent from orphaned
blocks stay in the topic (the contract has no retraction).

Event ids are ``<chain_id>:<tx_hash>:<log_index>``. A native ETH transfer has
no log, so it takes ``log_index = -1``: a transaction moves value at top level
at most once, and real log indexes are >= 0, so ids never collide. Internal
(contract-to-contract) ETH transfers need tracing and are not followed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chain.bloom import bloom_may_match
from chain.checkpoint import RECENT_BLOCKS, Checkpoint, CheckpointStore
from chain.errors import ChainError, CheckpointError, PublishError, ReorgTooDeepError, RpcError
from chain.publisher import TransferSink
from chain.rpc import TRANSFER_TOPIC, BlockHeader, ChainReader, LogEntry, topic_address
from reputation.errors import ConfigError
from reputation.events import Address, TransferEvent, parse_address

__all__ = [
    "NATIVE_LOG_INDEX",
    "NATIVE_TOKEN",
    "PollResult",
    "WatchConfig",
    "Watcher",
    "WatcherStats",
]

log = logging.getLogger(__name__)

#: ``log_index`` of a native ETH transfer (see the module docstring).
NATIVE_LOG_INDEX = -1
#: ``token`` of a native ETH transfer, as in the contract.
NATIVE_TOKEN = "ETH"  # noqa: S105  # a token symbol, not a secret


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """Settings of one watcher.

    Parameters
    ----------
    tokens
        ERC-20 contracts to follow (lower-case addresses).
    confirmations
        Blocks that must sit on top of a block before it is published.
    native
        Also publish top-level ETH value transfers.
    from_block
        First block to read when there is no checkpoint (None: the next block
        to reach `confirmations`).
    max_blocks_per_poll
        Blocks fetched per poll; bounds one batch and the catch-up step.
    poll_interval_s
        Pause between polls when the watcher is caught up.
    """

    tokens: frozenset[str] = frozenset()
    confirmations: int = 12
    native: bool = True
    from_block: int | None = None
    max_blocks_per_poll: int = 200
    poll_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.confirmations < 0:
            raise ConfigError(f"confirmations must be >= 0, got {self.confirmations}")
        if self.max_blocks_per_poll < 1:
            raise ConfigError(f"max_blocks_per_poll must be >= 1, got {self.max_blocks_per_poll}")
        if self.poll_interval_s <= 0:
            raise ConfigError(f"poll_interval_s must be > 0, got {self.poll_interval_s}")
        if self.from_block is not None and self.from_block < 0:
            raise ConfigError(f"from_block must be >= 0, got {self.from_block}")
        for t in self.tokens:
            if parse_address(t) != t:
                raise ConfigError(f"tokens must be lower-case addresses, got {t}")
        if not self.tokens and not self.native:
            raise ConfigError("nothing to watch: give tokens or enable native transfers")


@dataclass(slots=True)
class WatcherStats:
    """Counters for logs and metrics."""

    blocks_published: int = 0
    transfers_published: int = 0
    orphaned_held: int = 0
    orphaned_published: int = 0
    publish_failures: int = 0
    rpc_failures: int = 0
    skipped_logs: int = 0


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did."""

    head: int
    published_through: int
    held: int
    transfers: int


@dataclass(frozen=True, slots=True)
class _Held:
    header: BlockHeader
    events: tuple[TransferEvent, ...]


@dataclass
class Watcher:
    """Follows one chain; call `poll` repeatedly or `run` until stopped."""

    reader: ChainReader
    sink: TransferSink
    checkpoints: CheckpointStore
    config: WatchConfig = field(default_factory=WatchConfig)
    stats: WatcherStats = field(default_factory=WatcherStats)
    _chain_id: int | None = None
    _cursor: Checkpoint | None = None
    _held: list[_Held] = field(default_factory=list)
    _decimals: dict[str, int] = field(default_factory=dict)

    # ----- start-up ----------------------------------------------------------------------

    def _start(self) -> Checkpoint:
        if self._cursor is not None:
            return self._cursor
        chain_id = self.reader.chain_id()
        saved = self.checkpoints.load()
        if saved is not None:
            if saved.chain_id != chain_id:
                raise CheckpointError(
                    f"checkpoint is for chain {saved.chain_id}, the node serves chain {chain_id}"
                )
            if self.config.from_block is not None:
                log.info(
                    "checkpoint found (block %d); --from-block %d is ignored",
                    saved.block_number,
                    self.config.from_block,
                )
            cursor = saved
        else:
            if self.config.from_block is not None:
                cursor = Checkpoint(chain_id, self.config.from_block - 1, None)
            else:  # start with the next block to reach its confirmations
                confirmed = max(self.reader.head_number() - self.config.confirmations, 0)
                h = self.reader.header(confirmed)
                cursor = Checkpoint(
                    chain_id,
                    confirmed,
                    None if h is None else h.hash,
                    () if h is None else ((confirmed, h.hash),),
                )
            # saved at once, so a restart before the first publication starts here too
            self.checkpoints.save(cursor)
        for token in sorted(self.config.tokens):
            self._decimals[token] = self.reader.token_decimals(token)
        self._chain_id = chain_id
        self._cursor = cursor
        log.info(
            "watching chain %d from block %d (confirmations %d, tokens %s, native %s)",
            chain_id,
            cursor.block_number + 1,
            self.config.confirmations,
            ",".join(sorted(self.config.tokens)) or "-",
            self.config.native,
        )
        return cursor

    @property
    def cursor(self) -> Checkpoint | None:
        """The last published block, once started."""
        return self._cursor

    # ----- one poll ----------------------------------------------------------------------

    def poll(self) -> PollResult:
        """Follow the chain one step: fetch new blocks, publish confirmed ones.

        Raises `RpcError` and `PublishError` after counting them; the next
        call starts from the same checkpoint, so a caller may simply retry.
        """
        try:
            cursor = self._start()
            head = self.reader.head_number()
            self._verify_tip()
            self._extend(head)
        except RpcError:
            self.stats.rpc_failures += 1
            raise
        published = self._publish(head - self.config.confirmations)
        cursor = self._cursor or cursor
        return PollResult(head, cursor.block_number, len(self._held), published)

    def _started(self) -> tuple[Checkpoint, int]:
        if self._cursor is None or self._chain_id is None:
            raise ChainError("the watcher has not started: call poll() first")
        return self._cursor, self._chain_id

    def _tip(self) -> tuple[int, str | None]:
        if self._held:
            h = self._held[-1].header
            return h.number, h.hash
        cursor, _ = self._started()
        return cursor.block_number, cursor.block_hash

    def _verify_tip(self) -> None:
        """Drop held blocks that are no longer canonical; rewind past orphaned published ones."""
        while self._held:
            h = self._held[-1].header
            canonical = self.reader.header(h.number)
            if canonical is not None and canonical.hash == h.hash:
                return
            self._held.pop()
            self.stats.orphaned_held += 1
            log.warning("reorg: block %d %s orphaned before publication", h.number, h.hash)
        self._verify_published()

    def _verify_published(self) -> None:
        cursor, _ = self._started()
        if cursor.block_hash is None:
            return
        canonical = self.reader.header(cursor.block_number)
        if canonical is not None and canonical.hash == cursor.block_hash:
            return
        # A published block was orphaned: find the newest published block still canonical.
        for number, block_hash in reversed(cursor.recent[:-1]):
            h = self.reader.header(number)
            if h is not None and h.hash == block_hash:
                lost = cursor.block_number - number
                self.stats.orphaned_published += lost
                log.error(
                    "reorg deeper than %d confirmations: %d published block(s) after %d were "
                    "orphaned; their transfers stay in the topic. Rewinding to block %d.",
                    self.config.confirmations,
                    lost,
                    number,
                    number,
                )
                keep = tuple(x for x in cursor.recent if x[0] <= number)
                self._cursor = Checkpoint(cursor.chain_id, number, block_hash, keep)
                self.checkpoints.save(self._cursor)
                return
        raise ReorgTooDeepError(
            cursor.block_number,
            f"published block {cursor.block_number} {cursor.block_hash} is orphaned and no "
            f"fork point is among the {len(cursor.recent)} blocks the checkpoint remembers",
        )

    def _extend(self, head: int) -> None:
        fetched = reorgs = 0
        while fetched < self.config.max_blocks_per_poll and reorgs < 3:
            number, parent = self._tip()
            if number + 1 > head:
                return
            h = self.reader.header(number + 1)
            if h is None:
                return  # the head moved back: the next poll verifies the tip
            if parent is not None and h.parent_hash != parent:
                log.warning("reorg: block %d does not follow %s; re-checking", h.number, parent)
                reorgs += 1  # a node that keeps contradicting itself waits for the next poll
                self._verify_tip()
                continue
            events = self._events(h)
            if events is None:
                return  # the block was orphaned while we read it; next poll
            self._held.append(_Held(h, events))
            fetched += 1

    def _events(self, h: BlockHeader) -> tuple[TransferEvent, ...] | None:
        _, chain_id = self._started()
        when = datetime.fromtimestamp(h.timestamp, UTC)
        out: list[TransferEvent] = []
        if self.config.native:
            natives = self.reader.native_transfers(h.hash)
            if natives is None:
                return None
            for n in sorted(natives, key=lambda x: x.tx_index):
                out.append(
                    TransferEvent(
                        event_id=f"{chain_id}:{n.tx_hash}:{NATIVE_LOG_INDEX}",
                        chain_id=chain_id,
                        block_number=h.number,
                        block_time=when,
                        tx_hash=n.tx_hash,
                        log_index=NATIVE_LOG_INDEX,
                        token=NATIVE_TOKEN,
                        sender=Address(n.sender),
                        recipient=Address(n.recipient),
                        amount=n.value_wei,
                        decimals=18,
                    )
                )
        tokens = sorted(self.config.tokens)
        if tokens and bloom_may_match(
            h.logs_bloom, bytes.fromhex(TRANSFER_TOPIC[2:]), [bytes.fromhex(t[2:]) for t in tokens]
        ):
            logs = self.reader.transfer_logs(h.hash, tokens)
            if logs is None:
                return None
            for x in sorted(logs, key=lambda x: x.log_index):
                event = self._token_event(chain_id, h, when, x)
                if event is not None:
                    out.append(event)
        return tuple(out)

    def _token_event(
        self, chain_id: int, h: BlockHeader, when: datetime, x: LogEntry
    ) -> TransferEvent | None:
        data = x.data[2:]
        if (
            len(x.topics) != 3
            or x.topics[0] != TRANSFER_TOPIC
            or len(data) != 64
            or x.address not in self._decimals
        ):
            # ERC-721 Transfer has 4 topics; anything else is not an ERC-20 transfer
            self.stats.skipped_logs += 1
            log.warning(
                "skipping log %s:%d of %s: not an ERC-20 Transfer",
                x.tx_hash,
                x.log_index,
                x.address,
            )
            return None
        return TransferEvent(
            event_id=f"{chain_id}:{x.tx_hash}:{x.log_index}",
            chain_id=chain_id,
            block_number=h.number,
            block_time=when,
            tx_hash=x.tx_hash,
            log_index=x.log_index,
            token=x.address,
            sender=Address(topic_address(x.topics[1])),
            recipient=Address(topic_address(x.topics[2])),
            amount=int(data, 16),
            decimals=self._decimals[x.address],
        )

    def _publish(self, confirmed_through: int) -> int:
        ready = [x for x in self._held if x.header.number <= confirmed_through]
        if not ready:
            return 0
        events = [e for x in ready for e in x.events]
        try:
            self.sink.publish(events)
        except PublishError:
            self.stats.publish_failures += 1
            raise
        cursor, _ = self._started()
        last = ready[-1].header
        recent = (*cursor.recent, *((x.header.number, x.header.hash) for x in ready))
        self._cursor = Checkpoint(cursor.chain_id, last.number, last.hash, recent[-RECENT_BLOCKS:])
        self.checkpoints.save(self._cursor)
        del self._held[: len(ready)]
        self.stats.blocks_published += len(ready)
        self.stats.transfers_published += len(events)
        log.debug(
            "published blocks %d..%d: %d transfers",
            ready[0].header.number,
            last.number,
            len(events),
        )
        return len(events)

    # ----- the loop ----------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        *,
        wake: Callable[[float], object] | None = None,
        max_backoff_s: float = 30.0,
    ) -> None:
        """Poll until `stop` is set; back off on RPC and Kafka failures.

        `wake(timeout_s)` waits for the next poll (default: sleep on `stop`);
        a new-head notifier can end the wait early.
        """
        backoff = self.config.poll_interval_s
        wait = wake or stop.wait
        while not stop.is_set():
            try:
                result = self.poll()
            except (RpcError, PublishError) as exc:
                log.warning("poll failed (%s); retrying in %.1fs", exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff_s)
                continue
            backoff = self.config.poll_interval_s
            if result.head - self.config.confirmations > result.published_through:
                continue  # catching up: no pause
            wait(self.config.poll_interval_s)
