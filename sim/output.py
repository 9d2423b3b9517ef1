"""The simulator's I/O: reading the bundled OFAC files, writing the run, producing to Kafka."""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson

from reputation.errors import ReputationError
from sim.events import TOPICS, Event
from sim.generate import Simulation
from sim.sanctions import SanctionsLists, parse_ofac_csv

LISTED_CSV = "ofac_sdn_evm_addresses.csv"
DELISTED_CSV = "ofac_sdn_evm_addresses_delisted.csv"


def default_data_dir() -> Path:
    """Return the folder holding the bundled OFAC CSV files (``chain/data``)."""
    spec = importlib.util.find_spec("chain")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "data"
        if (candidate / LISTED_CSV).is_file():
            return candidate
    return Path(__file__).resolve().parent.parent / "chain" / "data"


def load_sanctions_lists(
    listed_csv: Path | None = None, delisted_csv: Path | None = None
) -> SanctionsLists:
    """Read the current and delisted OFAC EVM address files (bundled copies by default)."""
    data = default_data_dir()
    listed = (listed_csv or data / LISTED_CSV).read_text(encoding="utf-8")
    delisted_path = delisted_csv or data / DELISTED_CSV
    delisted = delisted_path.read_text(encoding="utf-8") if delisted_path.is_file() else ""
    return SanctionsLists(parse_ofac_csv(listed), parse_ofac_csv(delisted) if delisted else ())


_LINE_HEAD = {topic: b'{"topic":"' + topic.encode() + b'","event":' for topic in TOPICS}


def encode_line(event: Event) -> bytes:
    r"""Return one replay-format line: ``{"topic": ..., "event": {...}}`` and a newline.

    Examples
    --------
    >>> from sim.events import make_event
    >>> encode_line(make_event(0, "quality", "w-1", {"event_id": "q-1", "score": 0.5}))
    b'{"topic":"quality","event":{"event_id":"q-1","score":0.5}}\n'
    """
    return _LINE_HEAD[event.topic] + orjson.dumps(event.payload) + b"}\n"


def write_simulation(run: Simulation, out_dir: Path) -> tuple[Path, Path]:
    """Write ``events.jsonl`` and ``truth.json`` into `out_dir`; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    events_path = out_dir / "events.jsonl"
    truth_path = out_dir / "truth.json"
    with events_path.open("wb") as fh:
        fh.writelines(map(encode_line, run.events))
    truth_path.write_text(json.dumps(run.truth, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return events_path, truth_path


class KafkaOutputError(ReputationError, RuntimeError):
    """Producing the simulated events to Kafka failed.

    Check that the broker in ``--bootstrap`` is up and reachable, then run again:
    the events are the same on every run, and consumers count a re-delivered
    event once (its ``event_id`` is stable).
    """


class Producer(Protocol):
    """The part of kafka-python's ``KafkaProducer`` the simulator uses."""

    def send(self, topic: str, key: bytes | None = None, value: bytes | None = None) -> object:
        """Queue one message."""

    def flush(self) -> None:
        """Block until every queued message is acknowledged."""

    def close(self) -> None:
        """Release the connection."""


def connect_kafka(bootstrap: str, security: Mapping[str, Any] | None = None) -> Producer:
    """Return a kafka-python producer for comma-separated bootstrap servers.

    `security` holds the client's TLS and SASL options (``KafkaConfig.security_options()``).
    """
    from kafka import KafkaProducer  # imported here: file output needs no Kafka client
    from kafka.errors import KafkaError

    try:
        producer: Producer = KafkaProducer(
            **(security or {}),
            bootstrap_servers=bootstrap.split(","),
            acks="all",
            linger_ms=20,
            client_id="vigil-simulate",
        )
    except KafkaError as exc:
        raise KafkaOutputError(f"cannot connect to Kafka at {bootstrap}: {exc!r}") from exc
    return producer


def send_to_kafka(
    events: Sequence[Event],
    producer: Producer,
    topic_prefix: str,
    rate: float = 0.0,
    progress: bool = True,
) -> int:
    """Produce the events in replay order, flush, and return how many were sent.

    Keys are the worker id (tasks, quality, payouts), the lower-case ``from``
    address (transfers) or the listed address (sanctions); values are UTF-8
    JSON. `rate` > 0 caps the send rate in events per second. A normal return
    means every event was acknowledged; the producer is closed in any case.
    """
    from kafka.errors import KafkaError
    from tqdm import tqdm

    sent = 0
    started = time.monotonic()
    bar: Iterable[Event] = tqdm(events, unit="ev", disable=not progress, desc="producing")
    try:
        for event in bar:
            key = event.key.encode() if event.key is not None else None
            producer.send(topic_prefix + event.topic, key=key, value=orjson.dumps(event.payload))
            sent += 1
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush()
    except KafkaError as exc:
        raise KafkaOutputError(f"producing failed after {sent} events: {exc!r}") from exc
    finally:
        producer.close()
    return sent
