"""The broker as the engine sees it: reachable or not, and the consumer lag it reports.

A task of the engine asks the broker every `PROBE_INTERVAL_S` for the end
offsets of the input partitions this process owns and for the group's
committed offsets of them. Their difference per partition is
``vigil_consumer_lag_messages``: the lag as the broker has it. The earlier
gauge took the high-water mark from the consumer's last fetch response, which
stops moving when the engine falls behind (it read 870 while the broker's lag
was 16,420).

The same probe sets ``vigil_broker_up`` (1 or 0) and `BrokerWatch.up`, which
``/readyz`` reports, and ends an outage in the log (`BrokerOutageFilter.back`):
one line when the broker is lost, one when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from config.settings import KafkaConfig
from streams import metrics
from streams.logs import BrokerOutageFilter, install_outage_filter

__all__ = ["PROBE_INTERVAL_S", "PROBE_TIMEOUT_S", "BrokerWatch"]

log = logging.getLogger(__name__)

#: Seconds between two probes of the broker.
PROBE_INTERVAL_S = 1.0
#: A probe that takes longer than this counts as the broker being unreachable.
PROBE_TIMEOUT_S = 3.0


class BrokerWatch:
    """Probe the broker: reachability, end offsets and the group's committed offsets.

    `assigned` returns the (topic, partition) pairs to report, read on each
    probe (the assignment changes on every rebalance); `short_name` turns a
    topic into its label (the topic without the prefix).
    """

    def __init__(
        self,
        kafka: KafkaConfig,
        group_id: str,
        assigned: Callable[[], Iterable[Any]],
        short_name: Callable[[str], str | None],
    ) -> None:
        self.kafka = kafka
        self.group_id = group_id
        self.assigned = assigned
        self.short_name = short_name
        self.logs = BrokerOutageFilter()
        self.up = True
        self.lag: dict[tuple[str, int], int] = {}
        self._admin: Any = None
        self._consumer: Any = None

    async def run(self) -> None:
        """Probe until cancelled (an app task)."""
        install_outage_filter(self.logs)  # Faust has set up its handlers by now
        metrics.BROKER_UP.set(1)
        try:
            while True:
                await self.probe()
                await asyncio.sleep(PROBE_INTERVAL_S)
        finally:
            await self._close()

    async def probe(self) -> None:
        """Ask the broker once; update `up`, `lag` and the gauges."""
        from aiokafka.errors import KafkaError

        try:
            lag = await asyncio.wait_for(self._fetch_lag(), PROBE_TIMEOUT_S)
        except (KafkaError, OSError, TimeoutError) as exc:
            self.up = False
            metrics.BROKER_UP.set(0)
            self.logs.lost(f"{type(exc).__name__}: {exc}"[:300])
            await self._close()  # start afresh: a client that lost the broker may hang on
            return
        self.up = True
        metrics.BROKER_UP.set(1)
        self.logs.back()
        self.lag = lag
        # Partitions lost in a rebalance must not keep reporting their last lag.
        metrics.CONSUMER_LAG.clear()
        for (topic, partition), n in lag.items():
            metrics.CONSUMER_LAG.labels(topic, str(partition)).set(n)

    async def _fetch_lag(self) -> dict[tuple[str, int], int]:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        if self._consumer is None:
            options = self.kafka.client_options()
            admin = AIOKafkaAdminClient(**options, client_id="vigil-brokerwatch")
            consumer = AIOKafkaConsumer(
                **options, group_id=None, enable_auto_commit=False, client_id="vigil-brokerwatch"
            )
            self._admin, self._consumer = admin, consumer
            await admin.start()
            await consumer.start()
        else:
            # Metadata, cheap: proves the broker answers even when nothing is assigned.
            await self._consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public ping
        tps = [
            TopicPartition(tp.topic, tp.partition)
            for tp in self.assigned()
            if self.short_name(tp.topic) is not None
        ]
        if not tps:
            return {}
        ends = await self._consumer.end_offsets(tps)
        committed = await self._admin.list_consumer_group_offsets(self.group_id, partitions=tps)
        out: dict[tuple[str, int], int] = {}
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            name = self.short_name(tp.topic)
            if name is not None:
                out[(name, tp.partition)] = max(0, ends[tp] - done)
        return out

    async def _close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        for client in (consumer, admin):
            if client is not None:
                try:
                    await client.stop() if client is consumer else await client.close()
                except (OSError, RuntimeError) as exc:  # closing a client that lost the broker
                    log.debug("closing a broker probe client: %s", exc)
