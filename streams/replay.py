"""``vigil replay``: the engine's processing over JSONL files of input events, no Kafka.

Each line is ``{"topic": "tasks", "event": {...}}``. Events go through the same
`Processor` as on Kafka, in file order, and the final trust record of every
worker (and the alerts) are written as JSONL, sorted by key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from tqdm import tqdm

from config.settings import Settings
from reputation.events import PayoutEvent, QualityEvent, TaskEvent
from reputation.state import WorkerState
from streams.processor import Clock, DeadLetter, Decoded, Processor, group_by_worker, system_clock

__all__ = ["ReplayResult", "iter_lines", "replay_files"]

log = logging.getLogger(__name__)
_CHUNK = 5000


@dataclass
class ReplayResult:
    """What a replay produced."""

    states: dict[str, WorkerState] = field(default_factory=dict)
    events: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


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


def replay_files(
    settings: Settings, paths: Iterable[Path], *, clock: Clock = system_clock, progress: bool = True
) -> ReplayResult:
    """Run every event of the files through the engine's processing, in file order."""
    processor = Processor(settings, clock)
    result = ReplayResult()
    chunk: list[Decoded] = []
    for name, number, line in iter_lines(paths, progress):
        result.events += 1
        decoded = _decode_line(processor, name, number, line)
        if isinstance(decoded, DeadLetter):
            result.dead_letters.append(decoded)
        elif isinstance(decoded.event, TaskEvent | QualityEvent | PayoutEvent):
            chunk.append(decoded)
            if len(chunk) >= _CHUNK:
                _apply_chunk(processor, result.states, chunk)
                chunk = []
    _apply_chunk(processor, result.states, chunk)
    return result


def _apply_chunk(
    processor: Processor, states: dict[str, WorkerState], chunk: list[Decoded]
) -> None:
    # Like a batch on Kafka: each worker's events in arrival order, one state copy per worker.
    for worker_id, items in group_by_worker(chunk):
        state = states.get(worker_id) or WorkerState(worker_id)
        states[worker_id] = processor.apply(state, items).state


def _decode_line(processor: Processor, name: str, number: int, line: bytes) -> Decoded | DeadLetter:
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
