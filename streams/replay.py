"""``vigil replay``: the engine's processing over JSONL files of input events, no Kafka.

Each line is ``{"topic": "tasks", "event": {...}}``. Events go through the same
`Processor` as on Kafka and the final trust record of every worker (and the
alerts that stand at the end) are written as JSONL, sorted by key. By default
the valid events are first sorted by event time (then topic and id): the
engine's results do not depend on arrival order, and in time order no alert is
raised only to be withdrawn later. ``order="file"`` keeps the file's order,
as a check of that independence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

import orjson
from tqdm import tqdm

from config.settings import Settings
from reputation.alerts import Alert, AlertStatus, Withdrawal
from reputation.errors import DeadLetterReason
from reputation.events import PayoutEvent, SanctionEntry, TransferEvent
from reputation.identity import redact_payload
from reputation.state import WorkerState, set_alert
from streams.links import DeviceSighting, LinkProcessor, MemoryLinkStore, WalletWithdrawal
from streams.processor import (
    IDENTITY,
    Clock,
    DeadLetter,
    Decoded,
    Processor,
    group_by_worker,
    system_clock,
)

__all__ = ["ReplayResult", "iter_lines", "link_fact", "replay_files"]

log = logging.getLogger(__name__)
_CHUNK = 5000


@dataclass
class ReplayResult:
    """What a replay produced: final worker states, alerts in the order raised, rejects."""

    states: dict[str, WorkerState] = field(default_factory=dict)
    events: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    links: MemoryLinkStore = field(default_factory=MemoryLinkStore)
    withdrawn: list[Withdrawal | WalletWithdrawal] = field(default_factory=list)
    _standing: dict[str, Alert] = field(default_factory=dict)

    def note(
        self, alerts: Iterable[Alert], withdrawn: Iterable[Withdrawal | WalletWithdrawal] = ()
    ) -> None:
        """Record what one step raised and withdrew (withdrawals first, as the engine does)."""
        for w in withdrawn:
            self.withdrawn.append(w)
            self._standing.pop(w.alert_id, None)
        for a in alerts:
            self.alerts.append(a)
            self._standing[a.alert_id] = a  # a repeated id: the latest record holds

    def standing(self) -> list[Alert]:
        """Return the alerts raised and not withdrawn, in the order raised."""
        return list(self._standing.values())


def iter_lines(paths: Iterable[Path], progress: bool = True) -> Iterator[tuple[str, int, bytes]]:
    """Yield (file name, line number, line) over files, with a progress bar by bytes."""
    paths = list(paths)
    total = sum(p.stat().st_size for p in paths)
    with tqdm(
        total=total, unit="B", unit_scale=True, desc="replay", disable=not progress, mininterval=0.5
    ) as bar:
        for path in paths:
            with path.open("rb") as fh:
                for number, line in enumerate(fh, start=1):
                    bar.update(len(line))
                    if line.strip():
                        yield path.name, number, line


def _time_key(d: Decoded) -> tuple[datetime, str, str]:
    e = d.event
    if isinstance(e, AlertStatus):
        return (e.at, d.kind, e.alert_id)
    return (e.time, d.kind, e.event_id)


def replay_files(
    settings: Settings,
    paths: Iterable[Path],
    *,
    clock: Clock = system_clock,
    progress: bool = True,
    order: Literal["time", "file"] = "time",
    chunk_size: int = _CHUNK,
) -> ReplayResult:
    """Run every event of the files through the engine's processing.

    Like a batch on Kafka, a chunk of events is applied worker by worker (each
    worker's events in order); the wallet side then takes the chunk's payouts,
    device sightings, transfers and sanctions entries, and the alerts it raises
    open on their workers at once. With ``order="time"`` (the default) the
    chunks follow event time, with ``order="file"`` the file; `chunk_size`
    events make a batch.
    """
    processor = Processor(settings, clock)
    result = ReplayResult()
    links = LinkProcessor(settings.exposure, settings.links, result.links)
    chunk: list[Decoded] = []
    for name, number, line in iter_lines(paths, progress):
        result.events += 1
        decoded = _decode_line(processor, name, number, line)
        if isinstance(decoded, DeadLetter):
            result.dead_letters.append(decoded)
            continue
        chunk.append(decoded)
        if order == "file" and len(chunk) >= chunk_size:
            _apply_chunk(processor, links, result, chunk)
            chunk = []
    if order == "time":
        chunk.sort(key=_time_key)
        for i in range(0, len(chunk), chunk_size):
            _apply_chunk(processor, links, result, chunk[i : i + chunk_size])
    else:
        _apply_chunk(processor, links, result, chunk)
    return result


def _apply_chunk(
    processor: Processor, links: LinkProcessor, result: ReplayResult, chunk: list[Decoded]
) -> None:
    states = result.states
    wallet_side: list[PayoutEvent | DeviceSighting | TransferEvent | SanctionEntry] = []
    for worker_id, items in group_by_worker(chunk):
        state = states.get(worker_id) or WorkerState(worker_id)
        applied = processor.apply(state, items)
        states[worker_id] = applied.state
        result.dead_letters.extend(applied.too_late)
        result.note(applied.alerts, applied.withdrawn)
        wallet_side.extend(applied.payouts)
        wallet_side.extend(applied.devices)
    wallet_side.extend(d.event for d in chunk if isinstance(d.event, TransferEvent | SanctionEntry))
    for fact in wallet_side:
        for alert in link_fact(links, fact):
            result.note((alert,))
            if alert.worker_id is not None:
                state = states.get(alert.worker_id) or WorkerState(alert.worker_id)
                states[alert.worker_id] = set_alert(state, alert.alert_id, alert.type, True)
        for gone in links.take_withdrawals():
            result.note((), (gone,))
            if gone.worker_id is not None:
                state = states.get(gone.worker_id) or WorkerState(gone.worker_id)
                states[gone.worker_id] = set_alert(state, gone.alert_id, gone.type, False)


def link_fact(
    links: LinkProcessor, fact: PayoutEvent | DeviceSighting | TransferEvent | SanctionEntry
) -> list[Alert]:
    """Hand one wallet-side fact to the link processor; return the alerts it raises."""
    if isinstance(fact, PayoutEvent):
        return links.payout(fact)
    if isinstance(fact, DeviceSighting):
        return links.sighting(fact)
    if isinstance(fact, TransferEvent):
        return links.transfer(fact)
    return links.sanction(fact)


def _decode_line(processor: Processor, name: str, number: int, line: bytes) -> Decoded | DeadLetter:
    """Decode one line; whatever goes wrong comes back as a `DeadLetter` (as in the engine)."""
    try:
        decoded = _decode_wrapped(processor, name, number, line)
    except Exception as exc:  # any failure is this line's: the lines after it go on
        detail = f"line: cannot be decoded ({type(exc).__name__})"
        decoded = DeadLetter(
            f"replay:{name}", None, number, str(DeadLetterReason.UNDECODABLE), detail, line
        )
    if isinstance(decoded, DeadLetter) and decoded.preview is None and IDENTITY.encode() in line:
        # A line that may be an identity event but could not be read: show none of it.
        decoded = replace(decoded, preview=redact_payload(line, orjson.loads))
    return decoded


def _decode_wrapped(
    processor: Processor, name: str, number: int, line: bytes
) -> Decoded | DeadLetter:
    source = f"replay:{name}"
    try:
        wrapper = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return DeadLetter(source, None, number, "BAD_JSON", f"line: not JSON ({exc})", line)
    if (
        not isinstance(wrapper, dict)
        or not isinstance(wrapper.get("topic"), str)
        or "event" not in wrapper
    ):
        return DeadLetter(
            source,
            None,
            number,
            "NOT_AN_OBJECT",
            'line: must be {"topic": "...", "event": {...}}',
            line,
        )
    topic = wrapper["topic"]
    raw = orjson.dumps(wrapper["event"])
    return processor.decode(
        processor.settings.kafka.topic(processor.kind_of(topic)), raw, None, number
    )


def write_jsonl(path: Path, records: Iterable[dict[str, object]]) -> int:
    """Write records one JSON object per line; return how many."""
    n = 0
    with path.open("wb") as fh:
        for record in records:
            fh.write(orjson.dumps(record))
            fh.write(b"\n")
            n += 1
    return n
