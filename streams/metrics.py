"""Prometheus metrics of the engine, declared once here.

Labels stay low-cardinality: topic short names, results, reasons, bands and
partitions, never a worker id, an address or a hash.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "events",
    "ALERTS",
    "ALERTS_WITHDRAWN",
    "API_GATE_WAIT_SECONDS",
    "API_GATE_WAITS",
    "LINK_SECONDS",
    "LOOP_LAG",
    "BATCH_SECONDS",
    "BATCH_SIZE",
    "BROKER_UP",
    "CONSUMER_LAG",
    "DEAD_LETTERS",
    "EVENTS",
    "EVENT_LATENCY",
    "SCORE",
    "SCORES_EMITTED",
    "WORKERS_BY_BAND",
    "TOO_LATE",
]

EVENTS = Counter(
    "vigil_events_total",
    "Input events by topic and result (applied, duplicate, dead_letter, ignored).",
    ["topic", "result"],
)
DEAD_LETTERS = Counter(
    "vigil_dead_letters_total", "Rejected input messages by topic and reason.", ["topic", "reason"]
)
TOO_LATE = Counter(
    "vigil_events_too_late_total",
    "Valid worker events refused as older than the worker's dedup horizon (TOO_LATE dead "
    "letters): they cannot be checked for a duplicate, so they are not applied.",
    ["topic"],
)
CONSUMER_LAG = Gauge(
    "vigil_consumer_lag_messages",
    "Messages in an assigned input partition after the group's committed offset, as the "
    "broker reports both (refreshed every second).",
    ["topic", "partition"],
)
BROKER_UP = Gauge(
    "vigil_broker_up", "1 while the Kafka broker answers this engine's probe, else 0."
)
EVENT_LATENCY = Histogram(
    "vigil_processing_latency_seconds",
    "From the Kafka timestamp of an input message to its score being emitted.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BATCH_SECONDS = Histogram(
    "vigil_batch_seconds",
    "Time spent processing one batch of input messages.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BATCH_SIZE = Histogram(
    "vigil_batch_size_messages",
    "Input messages per processed batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
SCORES_EMITTED = Counter("vigil_scores_emitted_total", "Trust records written to vigil.scores.")
SCORE = Histogram(
    "vigil_score",
    "Distribution of emitted trust scores.",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
WORKERS_BY_BAND = Gauge(
    "vigil_workers_by_band",
    "Workers owned by this engine process, by their latest band.",
    ["band"],
)


ALERTS = Counter(
    "vigil_alerts_total", "Alerts raised, by kind, type and severity.", ["kind", "type", "severity"]
)
ALERTS_WITHDRAWN = Counter(
    "vigil_alerts_withdrawn_total",
    "Drift alerts withdrawn because late events changed the day that raised them, by type.",
    ["type"],
)
LINK_SECONDS = Histogram(
    "vigil_link_seconds",
    "Time the wallet side spends on one payout, transfer, list entry or device sighting.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)

API_GATE_WAITS = Counter(
    "vigil_api_gate_waits_total",
    "API requests that waited for the read gate (their share of the event loop was spent).",
)
API_GATE_WAIT_SECONDS = Counter(
    "vigil_api_gate_wait_seconds_total", "Seconds API requests spent waiting for the read gate."
)
LOOP_LAG = Histogram(
    "vigil_event_loop_lag_seconds",
    "How late a timer on the engine's event loop wakes: the time some callback (a batch's "
    "processing, a request's handler) held the loop while others waited.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

_EVENT_CHILDREN: dict[tuple[str, str], Counter] = {}


def events(topic: str, result: str) -> Counter:
    """Return the `EVENTS` counter of a topic and result (cached: this is the hot path)."""
    child = _EVENT_CHILDREN.get((topic, result))
    if child is None:
        child = _EVENT_CHILDREN[(topic, result)] = EVENTS.labels(topic, result)
    return child
