"""The Faust app: topics, the worker table and the batch agent that scores workers.

The agent is thin: decode and validate (`Processor.decode`), read state, call the
pure core, write state back, emit, count. It processes batches
(``stream.take_events``); Faust acks a batch's messages only after the batch has
been processed, so a crash redelivers the batch, and the state's memory of
applied event ids makes the redelivery change nothing (at-least-once input,
exactly-once effect).

Table writes need to know the partition of the message that caused them
(faust issue 497): inside a batch there is no "current event", so each worker's
write runs in `event_scope` of that worker's last message, which sets Faust's
current-event context to it. Keys are co-partitioned (same key, same partition
count), so that message's partition is the worker's partition.

State never gets ahead of the output it caused (`flush_outbox`): a batch's
scores, alerts, alert-status commands and forwards to the wallet side reach the
broker (acked) first; only then go its table entries to their changelogs, and
only once the broker holds those does an entry reach the local RocksDB (until
then reads see it in memory, `read_table`). After a kill -9 at any point, a
redelivered event is either new to the restored state, and all its output is
produced again (under the same deterministic alert ids), or its output is
already on the broker. Both sides work this way: the worker table and the wallet
side's three tables.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import faust
import orjson
from faust.streams import _current_event  # see event_scope: the documented way round issue 497
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.web.base import BlueprintManager

from config.settings import Settings
from reputation.alerts import Alert, AlertStatus
from reputation.events import (
    PayoutEvent,
    SanctionEntry,
    TransferEvent,
    parse_payout,
    parse_sanction,
    parse_transfer,
)
from reputation.identity import AttributeClaim, DeviceFact, Verdict
from reputation.state import WorkerState
from streams import metrics
from streams.alertlog import AlertLog
from streams.brokerwatch import BrokerWatch
from streams.links import LinkProcessor, parse_sighting
from streams.linkstore import TableLinkStore
from streams.loopturn import TurnBudget, watch_loop_lag
from streams.outbox import Outbox, key_partition
from streams.processor import WORKER_TYPES, Clock, DeadLetter, Decoded, Processor, system_clock
from streams.replay import link_fact
from streams.scorelog import ScoreLog
from streams.statecodec import decode_state, encode_state
from streams.topics import CHAIN_TOPICS, WORKER_TOPICS, Topics, all_topic_specs, changelog_specs
from streams.webguard import web_application_options
from streams.webload import ReadGate, read_gate_middleware

__all__ = ["Engine", "event_scope"]

log = logging.getLogger(__name__)

#: Exit status when a table entry never reached its changelog (see `Engine._persisted`).
EXIT_CHANGELOG_LOST = 70
#: Most bytes of facts in one ``{prefix}links`` message (the broker's default limit is 1 MiB).
FORWARD_MAX_BYTES = 256 * 1024
#: Worker-table key prefix of the highest dead-lettered offset of an input partition
#: (byte 0xFF is never in UTF-8, so no worker id's key can start with it).
DEAD_LETTER_MARK = b"\xffdead-letters:"


@contextmanager
def event_scope(event: Any) -> Iterator[None]:
    """Make `event` Faust's current event while the block runs (for table writes)."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class _PartitionEvent:
    """Stands in for Faust's current event when an entry is stored after its batch.

    A table store reads only the current event's ``message.partition``.
    """

    __slots__ = ("__weakref__", "message")

    def __init__(self, partition: int) -> None:
        self.message = _Partition(partition)


class _Partition:
    __slots__ = ("partition",)

    def __init__(self, partition: int) -> None:
        self.partition = partition


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread with a configurable fetch long-poll.

    Faust hard-codes ``fetch_max_wait_ms=1500``. aiokafka leaves the partitions
    that still hold unconsumed records out of its next fetch request and, with
    one request in flight per broker, cannot fetch them again until that request
    returns. When the request in flight holds only quiet partitions (the other
    input topics, the links topic) the broker keeps it for the whole long-poll,
    so an event could wait up to 1.5 s per hop before the engine saw it.
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(transport, "fetch_max_wait_ms", None)
        if wait_ms is not None:
            # AIOKafkaConsumer keeps the value it hands its Fetcher at start().
            if not hasattr(consumer, "_fetch_max_wait_ms"):  # pragma: no cover
                raise RuntimeError("aiokafka changed: no _fetch_max_wait_ms to set")
            consumer._fetch_max_wait_ms = wait_ms  # noqa: SLF001 - Faust offers no setting
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    """The aiokafka transport, with `_ConsumerThread` and its fetch long-poll."""

    Consumer = _Consumer
    fetch_max_wait_ms: int | None = None


class Engine:
    """One Vigil engine: a Faust app with its topics, table, agent and web routes."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        store: str = "rocksdb://",
    ) -> None:
        self.settings = settings
        self.processor = Processor(settings, clock)
        kafka, engine = settings.kafka, settings.engine
        # API requests get at most a share of the loop; the stream the rest (streams.webload).
        self.read_gate = ReadGate(settings.api.read_share)
        web_options = web_application_options(settings.api)
        web_options["middlewares"] = [
            *web_options["middlewares"],
            read_gate_middleware(self.read_gate),  # inside the guard: after the body is read
        ]
        self.app = faust.App(
            engine.app_id,
            broker=[f"kafka://{b}" for b in kafka.bootstrap_servers],
            broker_credentials=kafka.faust_credentials(),
            store=store,
            datadir=str(engine.data_dir),
            web_host=settings.api.host,
            web_port=settings.api.port,
            web_bind=settings.api.host,
            # HTTPS only when a certificate is configured; other processes forward here.
            web_ssl_context=settings.api.server_ssl_context(),
            canonical_url=settings.api.advertised_url,
            # Only the contract's routes: none of Faust's own views (/table/... serves
            # raw table data, /router/... the cluster's URLs, / and /graph internals).
            # table_route forwarding needs none of them (it calls the owner's same path).
            web_tables_enabled=False,
            web_router_enabled=False,
            web_stats_enabled=False,
            web_graph_enabled=False,
            web_metrics_enabled=False,
            # Host allow-list, same-origin JSON-only writes, tokens on every route but
            # /healthz, body timeout and limit, security headers (streams.webguard).
            web_application_options=web_options,
            # A killed process's partitions move (or come back to it) in seconds, not a
            # minute; with an instance id a restarted process rejoins as itself.
            broker_session_timeout=engine.session_timeout_s,
            broker_heartbeat_interval=engine.heartbeat_interval_s,
            consumer_group_instance_id=engine.group_instance_id or None,
            topic_partitions=kafka.partitions,
            topic_replication_factor=kafka.replication_factor,
            producer_acks=-1,
            broker_commit_every=max(engine.batch_max, 1000),
            broker_commit_interval=1.0,
            stream_buffer_maxsize=max(4 * engine.batch_max, 4096),
            consumer_max_fetch_size=4 * 1024 * 1024,
            producer_linger_ms=5,
            producer_max_batch_size=512 * 1024,
            table_cleanup_interval=3600.0,
            stream_wait_empty=False,
            key_serializer="raw",
            value_serializer="raw",
        )
        # Before anything creates Faust's own transport (Topics.declare does).
        transport = _Transport(self.app.conf.broker_consumer, self.app)
        transport.fetch_max_wait_ms = engine.fetch_max_wait_ms
        self.app.transport = transport
        self.topics = Topics.declare(self.app, kafka)
        # One outbox per agent: each flushes its own output before its input is acked.
        out_partitions = {name: n for name, n, _ in all_topic_specs(kafka)}
        out_partitions.update((name, n) for name, n, _ in changelog_specs(kafka, engine.app_id))
        self._partitions = out_partitions
        self.outbox = Outbox(out_partitions)
        self._chain_outbox = Outbox(out_partitions)
        self._links_outbox = Outbox(out_partitions)
        cache = engine.rocksdb_block_cache_mb * 1024 * 1024
        self.workers = self.app.Table(
            "workers",
            key_type=bytes,
            value_type=bytes,
            partitions=kafka.partitions,
            options={
                "driver": "rocksdict",
                "block_cache_size": cache // max(kafka.partitions, 1),
                "write_buffer_size": 8 * 1024 * 1024,
                "max_write_buffer_number": 2,
            },
        )
        one = {
            "driver": "rocksdict",
            "block_cache_size": cache // 4,
            "write_buffer_size": 8 * 1024 * 1024,
            "max_write_buffer_number": 2,
        }
        # The wallet side: one partition, like {prefix}links (see streams.linkstore).
        self.addresses = self.app.Table(
            "addresses", key_type=bytes, value_type=bytes, partitions=1, options=one
        )
        self.devices = self.app.Table(
            "devices", key_type=bytes, value_type=bytes, partitions=1, options=one
        )
        self.raised = self.app.Table(
            "raised-alerts", key_type=bytes, value_type=bytes, partitions=1, options=one
        )
        # Changelog topic -> table, for the tables written through an outbox.
        self._changelogs: dict[str, Any] = {
            table.changelog_topic.get_topic_name(): table
            for table in (self.workers, self.addresses, self.devices, self.raised)
        }
        self._changelog_of = {id(t): name for name, t in self._changelogs.items()}
        self._workers_changelog = self._changelog_of[id(self.workers)]
        # Outbox id -> dead-letter mark key -> the stored offset read this batch, and
        # -> (highest offset dead-lettered this batch, partition); see send_dead_letter.
        self._dl_floors: dict[int, dict[bytes, int]] = {}
        self._dl_pending: dict[int, dict[bytes, tuple[int, int]]] = {}
        # Table id -> key -> value written but not yet stored (reads see these first).
        self._unacked: dict[int, dict[bytes, bytes]] = {
            id(t): {} for t in self._changelogs.values()
        }
        # Outbox id -> (changelog, partition) -> key -> value, sent after the outbox's output.
        self._writes: dict[int, dict[tuple[str, int], dict[bytes, bytes]]] = {}
        # Outbox id -> facts for the wallet side, sent as few messages (see `forward`).
        self._forwards: dict[int, list[bytes]] = {}
        self.link_store = TableLinkStore(
            self.addresses,
            self.devices,
            self.raised,
            engine.state_cache_size,
            write=functools.partial(self._write_table, box=self._links_outbox, partition=0),
            read=self.read_table,
        )
        self.links = LinkProcessor(settings.exposure, settings.links, self.link_store)
        self.alert_log = AlertLog(settings)
        self.score_log = ScoreLog(settings)
        self._bands: dict[str, str] = {}
        # Decoded states of the workers this process owns, so a busy worker is not
        # decoded from RocksDB on every batch. Only this agent writes the table, so
        # the cache equals the table while the assignment holds; any rebalance
        # clears it (the table, restored from its changelog, stays the truth).
        self._cache: dict[str, WorkerState] = {}
        self._cache_max = engine.state_cache_size
        # The scoring agent's slices of the event loop (see `process_batch`).
        self._turn = TurnBudget(engine.turn_slice_s)
        states = self._cache

        link_store = self.link_store

        async def on_rebalance(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
            states.clear()
            link_store.clear_cache()

        # mode types receivers as returning "Awaitable[None] | None", which mypy does
        # not match against an async def's Coroutine inside that union.
        self.app.on_partitions_revoked.connect(on_rebalance)  # type: ignore[arg-type]
        self.app.on_partitions_assigned.connect(on_rebalance)  # type: ignore[arg-type]
        self.app.agent(self.topics.worker_inputs, name="score_workers")(self._score_workers)
        self.app.agent(self.topics.chain_inputs, name="route_chain")(self._route_chain)
        self.app.agent(self.topics.links, name="link_wallets")(self._link_wallets)
        self.app.task(self.alert_log.run)
        inputs = {kafka.topic(name): name for name in (*WORKER_TOPICS, *CHAIN_TOPICS, "links")}
        self.broker = BrokerWatch(
            kafka, engine.app_id, lambda: self.app.consumer.assignment(), inputs.get
        )
        self.app.task(self.broker.run)
        self.app.task(self.score_log.run)

        # Not the function itself: Faust passes the app to a task that takes arguments.
        async def loop_lag() -> None:
            await watch_loop_lag()

        self.app.task(loop_lag)
        from streams.web import register_alert_routes, register_routes  # needs the tables

        # With the stats view off Faust mounts a placeholder index at "/" (no setting
        # turns it off); an empty manager leaves only the routes registered below.
        self.app.web.blueprints = BlueprintManager()
        register_routes(self)
        register_alert_routes(self)
        from streams.webdash import register_dashboard_routes

        register_dashboard_routes(self)

    async def _score_workers(self, stream: Any) -> None:
        engine = self.settings.engine
        async for batch in stream.take_events(engine.batch_max, within=engine.batch_within_s):
            await self.process_batch(batch)

    def _write_table(
        self, table: Any, key: bytes, value: bytes, *, box: Outbox, partition: int
    ) -> None:
        """Write a table entry; it is sent and stored when `box` is flushed (`flush_outbox`).

        What ``table[key] = value`` does, without Faust's per-message producer
        path, and in the order that loses nothing: the changelog message goes
        out once the batch's other output is on the broker, and the RocksDB
        write and the persisted changelog offset (where recovery resumes
        reading) follow once the broker has the changelog message
        (`_persisted`). Until then `read_table` finds the entry in memory. A key
        written twice in one batch is sent once.
        """
        self._unacked[id(table)][key] = value
        topic = self._changelog_of[id(table)]
        self._writes.setdefault(id(box), {}).setdefault((topic, partition), {})[key] = value

    def read_table(self, table: Any, key: bytes) -> bytes | None:
        """Read a table entry, one written but not yet stored included (see `_write_table`)."""
        value = self._unacked[id(table)].get(key)
        if value is not None:
            return value
        # The store itself: no Table hooks on the hot path.
        stored: bytes | None = table.data.get(key)
        return stored

    def _write_state(self, key: bytes, value: bytes, partition: int) -> None:
        """Write a worker's state (see `_write_table`)."""
        self._write_table(self.workers, key, value, box=self.outbox, partition=partition)

    def _persisted(self, table: Any, tp: TP, entries: dict[bytes, bytes], fut: Any) -> None:
        """Store entries the broker now holds in their changelog, and where recovery resumes."""
        if fut.cancelled() or fut.exception() is not None:
            # The batch's input may be acked already and its state is not on the
            # broker: exit at once, as a kill -9 would. A clean stop would commit
            # the input's offsets; after a restart the input is redelivered.
            reason = fut.exception() if not fut.cancelled() else "cancelled"
            log.critical("changelog %s[%s] not delivered: %r; exiting", *tp, reason)
            logging.shutdown()
            os._exit(EXIT_CHANGELOG_LOST)
        store: Any = table.data  # a faust StoreT; typed as a MutableMapping
        with event_scope(_PartitionEvent(tp.partition)):
            for key, value in entries.items():
                store[key] = value
        store.set_persisted_offset(tp, fut.result().offset)
        unacked = self._unacked[id(table)]
        for key, value in entries.items():
            if unacked.get(key) is value:  # not written again by a later batch meanwhile
                del unacked[key]

    def emit(
        self, topic: str, value: bytes, key: bytes | None = None, box: Outbox | None = None
    ) -> None:
        """Queue an output message (short topic name) in `box` (the scoring agent's by default)."""
        # Not `box or self.outbox`: an empty Outbox is falsy (it has a length).
        (self.outbox if box is None else box).add(self.settings.kafka.topic(topic), value, key)

    def forward(self, fact: bytes, box: Outbox | None = None) -> None:
        """Queue a fact (``{"kind": ..., "event": ...}``) for the wallet side.

        A batch's facts travel together, up to `FORWARD_MAX_BYTES` per
        ``{prefix}links`` message (``{"facts": [...]}``): one message per fact
        cost the engine a produce and a Faust delivery per payout.
        """
        box = self.outbox if box is None else box
        self._forwards.setdefault(id(box), []).append(fact)

    def _queue_forwards(self, box: Outbox) -> None:
        facts = self._forwards.pop(id(box), None)
        if not facts:
            return
        start, size = 0, 0
        for i, fact in enumerate(facts):
            if i > start and size + len(fact) > FORWARD_MAX_BYTES:
                self.emit("links", b'{"facts":[' + b",".join(facts[start:i]) + b"]}", box=box)
                start, size = i, 0
            size += len(fact) + 1
        self.emit("links", b'{"facts":[' + b",".join(facts[start:]) + b"]}", box=box)

    async def flush_outbox(self, box: Outbox | None = None) -> None:
        """Send the queued output, wait for its acks, then send the queued table entries.

        Called before the input batch is acked (see the module's docstring).
        Faust flushes the producer, waiting for the changelog's acks, before it
        commits the input's offsets. An output message the broker refused
        stops the engine: its state is not stored, a restart redelivers.
        """
        box = self.outbox if box is None else box
        self._queue_forwards(box)
        self._queue_dead_letter_marks(box)
        writes = self._writes.pop(id(box), None)
        if not len(box) and not writes:
            return
        # Faust's own aiokafka producer: Faust flushes it before committing offsets.
        driver: Any = self.app.producer  # the aiokafka driver's Producer
        producer = driver._ensure_producer()  # noqa: SLF001
        if len(box):
            try:
                await box.deliver(producer)
            except Exception as exc:  # any failed delivery: nothing of it may be stored
                # The batch's input is not acked: the crash's shutdown does not commit it.
                log.critical("output not delivered: %r; stopping the engine", exc)
                await self.app.crash(exc)
                raise
        for (topic, partition), entries in (writes or {}).items():
            fut: Any = None
            for key, value in entries.items():
                fut = await producer.send(topic, value, key=key, partition=partition)
            table, tp = self._changelogs[topic], TP(topic, partition)
            fut.add_done_callback(functools.partial(self._persisted, table, tp, entries))

    async def process_batch(self, batch: Sequence[Any]) -> None:
        """Decode, apply and emit one batch of Faust events.

        The work goes in slices of at most `EngineConfig.turn_slice_s` of the
        event loop (`TurnBudget`): between two messages' decoding and between
        two workers' scoring, a turn that has used its slice yields, so that a
        read or another agent waits for one slice, not for the whole batch. The
        order of the work, and of the output it queues, is the same either
        way, and nothing is flushed or acked before the last slice.
        """
        started = time.perf_counter()
        turn = self._turn
        turn.start()
        groups: dict[str, list[Decoded]] = {}
        raws: dict[str, bytes] = {}
        anchors: dict[str, Any] = {}
        timestamps: dict[str, float] = {}
        for ev in batch:
            await turn.pause()
            msg = ev.message
            result = self.processor.decode(msg.topic, ev.value, msg.partition, msg.offset)
            if isinstance(result, DeadLetter):
                self.send_dead_letter(result)
                continue
            event = result.event
            if not isinstance(event, (*WORKER_TYPES, AlertStatus)):
                metrics.events(result.kind, "ignored").inc()
                continue
            if self._misrouted(msg, event.worker_id):
                # Applied here, its state would live in another worker's partition:
                # send it on to its own, keyed right; the copy is applied there. An
                # identity event goes on hashed (value_hash), never with its raw value.
                value = (
                    orjson.dumps(event.to_json())
                    if isinstance(event, AttributeClaim | DeviceFact | Verdict)
                    else ev.value
                )
                self.emit(result.kind, value, event.worker_id.encode())
                metrics.events(result.kind, "rekeyed").inc()
                continue
            groups.setdefault(event.worker_id, []).append(result)
            anchors[event.worker_id] = ev
            timestamps.setdefault(event.worker_id, msg.timestamp)
            if isinstance(event, PayoutEvent):
                raws[event.event_id] = ev.value
        for worker_id, items in groups.items():
            await turn.pause()
            self._score_worker(worker_id, items, anchors[worker_id], timestamps[worker_id], raws)
        await self.flush_outbox()
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    def _misrouted(self, msg: Any, worker_id: str) -> bool:
        """Tell whether a worker event came with another key or on another partition."""
        key = worker_id.encode()
        if msg.key != key:
            return True
        partitions = self._partitions.get(msg.topic)
        return partitions is not None and msg.partition != key_partition(key, partitions)

    def _score_worker(
        self,
        worker_id: str,
        items: list[Decoded],
        anchor: Any,
        first_ts: float,
        raws: dict[str, bytes],
    ) -> None:
        key = worker_id.encode()
        with event_scope(anchor):
            state = self._cache.get(worker_id) or self.load_state(worker_id)
            applied = self.processor.apply(state, items)
            if applied.changed:
                value = encode_state(applied.state)
                self._write_state(key, value, anchor.message.partition)
        self._remember(worker_id, applied.state)
        for kind, n in applied.applied.items():
            metrics.events(kind, "applied").inc(n)
        for kind, n in applied.duplicates.items():
            metrics.events(kind, "duplicate").inc(n)
        for letter in applied.too_late:
            self.send_dead_letter(letter)
            metrics.TOO_LATE.labels(self.processor.kind_of(letter.source_topic)).inc()
        for withdrawal in applied.withdrawn:
            self.emit("alerts", orjson.dumps(withdrawal.to_json()), key)
            metrics.ALERTS_WITHDRAWN.labels(withdrawal.type).inc()
        for alert in applied.alerts:
            self.send_alert(alert)
        # The wallet side sees each newly applied payout and each first device sighting.
        for payout in applied.payouts:
            raw = raws.get(payout.event_id) or orjson.dumps({})
            self.forward(b'{"kind":"payouts","event":' + raw + b"}")
        for sighting in applied.devices:
            self.forward(orjson.dumps({"kind": "devices", "event": sighting.to_json()}))
        # A redelivered batch re-emits the record (the state is stored only after
        # the first one was on the broker, so this is a repeat, never a first).
        if applied.changed or applied.duplicates:
            record = self.processor.record(applied.state)
            # Queued; `flush_outbox` sends the batch's output and waits for its acks.
            self.emit("scores", orjson.dumps(record.to_json()), key)
            metrics.SCORES_EMITTED.inc()
            metrics.SCORE.observe(record.score)
            self._count_band(worker_id, record.band)
            if first_ts:
                metrics.EVENT_LATENCY.observe(max(0.0, time.time() - first_ts))

    def send_alert(self, alert: Alert, box: Outbox | None = None) -> None:
        """Queue an alert for ``vigil.alerts`` and count it."""
        self.emit("alerts", orjson.dumps(alert.to_json()), alert.key.encode(), box)
        metrics.ALERTS.labels(alert.kind, alert.type, alert.severity).inc()
        log.info(
            "alert %s %s (%s) worker=%s wallet=%s",
            alert.type,
            alert.alert_id,
            alert.severity,
            alert.worker_id,
            alert.wallet,
        )

    async def _route_chain(self, stream: Any) -> None:
        """Validate transfers and sanctions entries and hand them to the wallet side."""
        engine, box = self.settings.engine, self._chain_outbox
        turn = TurnBudget(engine.turn_slice_s)
        async for batch in stream.take_events(engine.batch_max, within=engine.batch_within_s):
            turn.start()
            for ev in batch:
                await turn.pause()
                msg = ev.message
                result = self.processor.decode(msg.topic, ev.value, msg.partition, msg.offset)
                if isinstance(result, DeadLetter):
                    self.send_dead_letter(result, box)
                    continue
                metrics.events(result.kind, "routed").inc()
                kind = result.kind.encode()
                self.forward(b'{"kind":"' + kind + b'","event":' + ev.value + b"}", box)
            await self.flush_outbox(box)

    async def _link_wallets(self, stream: Any) -> None:
        """Run the wallet side: payouts, transfers, sanctions entries and device sightings."""
        engine, box = self.settings.engine, self._links_outbox
        turn = TurnBudget(engine.turn_slice_s)
        async for batch in stream.take_events(engine.batch_max, within=engine.batch_within_s):
            turn.start()
            for ev in batch:
                # In slices like the scoring agent's (see `process_batch`).
                for fact in self._facts_of(ev):
                    await turn.pause()
                    # Table writes need the message that caused them (see event_scope).
                    with event_scope(ev):
                        self._link_timed(ev, fact, box)
            await self.flush_outbox(box)

    def _link_message(self, ev: Any, box: Outbox) -> None:
        """Apply a ``{prefix}links`` message: ``{"facts": [...]}`` or one fact (older engines)."""
        for fact in self._facts_of(ev):
            self._link_timed(ev, fact, box)

    def _facts_of(self, ev: Any) -> list[Any]:
        """Return the facts of a ``{prefix}links`` message (none, and logged, if unreadable)."""
        try:
            wrapper = orjson.loads(ev.value)
            facts: list[Any] = wrapper["facts"] if "facts" in wrapper else [wrapper]
        except (ValueError, KeyError, TypeError) as exc:
            self._unreadable(ev, exc)
            return []
        return facts

    def _link_timed(self, ev: Any, fact: Any, box: Outbox) -> None:
        started = time.perf_counter()
        self._link_one(ev, fact, box)
        metrics.LINK_SECONDS.observe(time.perf_counter() - started)

    def _unreadable(self, ev: Any, exc: Exception) -> None:
        # Only the engine writes this topic, after validation: a failure here is a bug.
        log.error(
            "links[%s]@%s: cannot read %r: %s",
            ev.message.partition,
            ev.message.offset,
            ev.value[:200],
            exc,
        )
        metrics.events("links", "error").inc()

    def _link_one(self, ev: Any, wrapper: Any, box: Outbox) -> None:
        try:
            kind, obj = wrapper["kind"], wrapper["event"]
            fact: Any
            if kind == "payouts":
                fact = parse_payout(obj)
            elif kind == "transfers":
                fact = parse_transfer(obj)
            elif kind == "sanctions":
                fact = parse_sanction(obj)
            else:
                fact = parse_sighting(obj)
        except (ValueError, KeyError, TypeError) as exc:
            self._unreadable(ev, exc)
            return
        for alert in link_fact(self.links, fact):
            self.send_alert(alert, box)
            if alert.worker_id is not None:
                status = AlertStatus(
                    alert.alert_id, alert.worker_id, alert.type, "open", alert.detected_at
                )
                key = alert.worker_id.encode()
                self.emit("alert-status", orjson.dumps(status.to_json()), key, box)
        # Alerts raised before an address on their path was known to be a hub.
        for gone in self.links.take_withdrawals():
            key = (gone.worker_id or gone.wallet or gone.alert_id).encode()
            self.emit("alerts", orjson.dumps(gone.to_json()), key, box)
            metrics.ALERTS_WITHDRAWN.labels(gone.type).inc()
            if gone.worker_id is not None:
                status = AlertStatus(gone.alert_id, gone.worker_id, gone.type, "withdrawn", gone.at)
                self.emit("alert-status", orjson.dumps(status.to_json()), key, box)
        if isinstance(fact, TransferEvent | SanctionEntry):
            metrics.events(kind, "applied").inc()

    def _remember(self, worker_id: str, state: WorkerState) -> None:
        cache = self._cache
        cache.pop(worker_id, None)
        cache[worker_id] = state
        if len(cache) > self._cache_max:  # drop the least recently used tenth
            for old in list(cache)[: max(1, self._cache_max // 10)]:
                del cache[old]

    def state_of(self, worker_id: str) -> WorkerState:
        """Return a worker's current state for a read: decoded already if this process has it.

        The cache equals the table while the assignment holds (see `__init__`);
        a read never fills it (during recovery the table is not yet the truth).
        """
        cached = self._cache.get(worker_id)
        return cached if cached is not None else self.load_state(worker_id)

    def load_state(self, worker_id: str) -> WorkerState:
        """Return the stored state of a worker (a fresh one if unknown)."""
        raw = self.read_table(self.workers, worker_id.encode())
        if raw is None:
            return WorkerState(worker_id)
        return decode_state(raw, self.settings.dedup)

    def send_dead_letter(self, dl: DeadLetter, box: Outbox | None = None) -> None:
        """Publish a rejected message with its reason, and count it; once per message.

        A message redelivered after a rebalance or a restart (its offset not
        yet committed) is rejected again, but its dead letter is not sent
        twice. Per input partition the worker table keeps the highest offset
        of an earlier batch whose dead letters are all on the broker
        (`_dead_letter_mark`: co-partitioned with the input, written when the
        batch is flushed, after its output, like any state). Within a batch
        nothing is skipped, whatever order its letters come in (a ``TOO_LATE``
        one comes after the decode errors). A crash before the letters are
        acked sends them again: never lost, at worst repeated.
        """
        kind = self.processor.kind_of(dl.source_topic)
        box = self.outbox if box is None else box
        mark = self._dead_letter_mark(dl)
        if mark is not None and dl.offset is not None:
            floors = self._dl_floors.setdefault(id(box), {})
            floor = floors.get(mark[0])
            if floor is None:
                done = self.read_table(self.workers, mark[0])
                floor = floors[mark[0]] = -1 if done is None else int(done)
            if dl.offset <= floor:
                metrics.events(kind, "dead_letter_repeat").inc()
                return
            pending = self._dl_pending.setdefault(id(box), {})
            top = pending.get(mark[0], (-1, mark[1]))[0]
            pending[mark[0]] = (max(top, dl.offset), mark[1])
        log.warning(
            "dead letter from %s[%s]@%s: %s", dl.source_topic, dl.partition, dl.offset, dl.error
        )
        self.emit("deadletters", orjson.dumps(dl.to_json()), box=box)
        metrics.events(kind, "dead_letter").inc()
        metrics.DEAD_LETTERS.labels(kind, dl.reason).inc()

    def _queue_dead_letter_marks(self, box: Outbox) -> None:
        """Queue the batch's dead-letter marks as table writes (sent after its output)."""
        self._dl_floors.pop(id(box), None)
        for key, (offset, partition) in self._dl_pending.pop(id(box), {}).items():
            value = str(offset).encode()
            self._write_table(self.workers, key, value, box=box, partition=partition)

    def _dead_letter_mark(self, dl: DeadLetter) -> tuple[bytes, int] | None:
        """Return the worker-table key and partition of a dead letter's input partition.

        Only for inputs with as many partitions as the table: Faust assigns
        topics with equal partition counts together, so the process that owns
        the input partition owns that table partition (and its changelog).
        The key is not UTF-8, so it is never a worker id's key.
        """
        if dl.partition is None or dl.offset is None:
            return None
        if self._partitions.get(dl.source_topic) != self._partitions.get(self._workers_changelog):
            return None
        return (DEAD_LETTER_MARK + f"{dl.source_topic}:{dl.partition}".encode(), dl.partition)

    def _count_band(self, worker_id: str, band: str) -> None:
        old = self._bands.get(worker_id)
        if old == band:
            return
        if old is not None:
            metrics.WORKERS_BY_BAND.labels(old).dec()
        metrics.WORKERS_BY_BAND.labels(band).inc()
        self._bands[worker_id] = band

    def is_ready(self) -> bool:
        """Tell whether the engine has finished table recovery and is processing."""
        app = self.app
        try:
            tables: Any = app.tables  # TableManager has .recovery; its interface type does not
            recovered = bool(tables.recovery.completed.is_set())
        except AttributeError:
            return False
        return recovered and not app.rebalancing and faust_running(app)


def faust_running(app: faust.App) -> bool:
    """Tell whether a Faust app's services have started and not stopped."""
    return bool(app.started) and not bool(app.should_stop)
