"""Memory and disk per worker of engine state, and its cost by history length.

``--histories``: one worker's history of 100, 1,000, 10,000 and 100,000
events (at 20 and at 200 events a day: tasks with a context, quality scores,
payouts, in time order, through the engine's `Processor` with the drift
detectors); for each, the stored record's bytes (`streams.statecodec`,
MessagePack v4) and the CPU of one batch of 50 new events for that worker as
the engine does it (decode the stored state, apply, encode, assess), in µs
per event (median of `--repeat`), with the ratio to the smallest history.

Otherwise: replays a simulated run in process (the engine's own code), then
measures the stored records: the worker table's values (trust evidence, drift
buckets, the id window) and the wallet side's (one per address, JSON), as
bytes and as written to RocksDB (rocksdict, the engine's driver and
defaults). The baseline in the same run is the raw input: the events' own
JSON bytes per worker. Figures per million workers are the per-worker means
times 10^6.

    .venv/bin/python bench/state_size.py --histories
    .venv/bin/python bench/state_size.py --workers 1000 --days 60
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from config.settings import load_settings  # noqa: E402
from reputation.codec import state_to_record  # noqa: E402
from reputation.drift import DriftState  # noqa: E402
from reputation.events import (  # noqa: E402
    Address,
    Money,
    PayoutEvent,
    QualityEvent,
    TaskContext,
    TaskEvent,
    WorkerEvent,
)
from reputation.exposure.codec import exposure_state_to_record  # noqa: E402
from reputation.state import WorkerState, event_key, fold_events  # noqa: E402
from sim.config import SimConfig  # noqa: E402
from sim.generate import simulate  # noqa: E402
from sim.output import encode_line, load_sanctions_lists  # noqa: E402
from streams.processor import Decoded, Processor  # noqa: E402
from streams.replay import replay_files  # noqa: E402
from streams.statecodec import decode_state, encode_state  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WALLET = Address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
HISTORIES = (100, 1_000, 10_000, 100_000)


def event(i: int, per_day: int, worker: str = "w-1") -> tuple[str, WorkerEvent]:
    """The `i`-th event of a worker with `per_day` events a day (a task, a score, a payout)."""
    t = T0 + timedelta(days=i / per_day)
    payer = f"agent-{i % 7}"
    if i % 3 == 0:
        ctx = TaskContext(utc_offset_min=60, ip_asn=3320, country="DE", device_id=f"d-{i % 3}")
        return "tasks", TaskEvent(
            f"t-{i}", worker, payer, f"k-{i}", "accepted", t - timedelta(minutes=30), t,
            Money(Decimal("12.50"), "USDC"), ctx,
        )  # fmt: skip
    if i % 3 == 1:
        return "quality", QualityEvent(f"q-{i}", worker, f"k-{i}", payer, 0.6 + i % 10 / 30, 1.0, t)
    return "payouts", PayoutEvent(
        f"p-{i}", worker, payer, WALLET, 1, "USDC", Decimal("12.5"), None, t
    )  # fmt: skip


def kind_id(i: int, per_day: int) -> tuple[str, str]:
    """The topic and event id of `event` (i, per_day)."""
    kind, e = event(i, per_day)
    return kind, e.event_id


def histories(repeat: int) -> None:
    """Print record bytes and CPU per event of a batch of 50, by history length."""
    processor = Processor(load_settings({}))
    print(
        "| events a day | history (events) | v3 JSON bytes (every id, before) | record bytes "
        "| ratio | CPU µs/event (batch of 50) | ratio | without drift: bytes | ratio "
        "| µs/event | ratio |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for per_day in (20, 200):
        state, done, base, bare = WorkerState("w-1"), 0, None, None
        for n in HISTORIES:
            while done < n:
                items = [Decoded(*event(i, per_day)) for i in range(done, min(n, done + 50))]
                state = processor.apply(state, items).state
                done += len(items)
            raw = encode_state(state)
            # What the v3 JSON record of this state was: the same fields, the id
            # window replaced by the list of every applied id (as before this change).
            v3 = state_to_record(state)
            del v3["ids"]
            v3.update(v=3, applied=sorted(event_key(*kind_id(i, per_day)) for i in range(n)))
            v3_bytes = len(orjson.dumps(v3))
            batch = [Decoded(*event(i, per_day)) for i in range(n, n + 50)]
            took = []
            for _ in range(repeat):
                t0 = time.process_time()
                s = decode_state(raw)
                applied = processor.apply(s, batch)
                encode_state(applied.state)
                processor.record(applied.state)
                took.append(time.process_time() - t0)
            us = sorted(took)[len(took) // 2] / len(batch) * 1e6
            base = base or (len(raw), us)
            # The same without the drift detectors' day windows: the id window and the rest.
            raw0 = encode_state(replace(state, drift=DriftState()))
            pairs = [(d.kind, d.event) for d in batch]
            took = []
            for _ in range(repeat):
                t0 = time.process_time()
                s = decode_state(raw0)
                folded = fold_events(processor.model, s, pairs, None, processor.settings.dedup)  # type: ignore[arg-type]
                encode_state(folded.state)
                processor.record(folded.state)
                took.append(time.process_time() - t0)
            us0 = sorted(took)[len(took) // 2] / len(batch) * 1e6
            bare = bare or (len(raw0), us0)
            print(
                f"| {per_day} | {n:,} | {v3_bytes:,} | {len(raw):,} | {len(raw) / base[0]:.2f} "
                f"| {us:.1f} "
                f"| {us / base[1]:.2f} | {len(raw0):,} | {len(raw0) / bare[0]:.2f} | {us0:.1f} "
                f"| {us0 / bare[1]:.2f} |"
            )


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def rocks_bytes(records: dict[bytes, bytes]) -> int:
    from rocksdict import Rdict

    with tempfile.TemporaryDirectory() as tmp:
        db = Rdict(tmp)
        for k, v in records.items():
            db[k] = v
        db.flush()
        db.close()
        return dir_bytes(Path(tmp))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--histories", action="store_true", help="cost by history length instead")
    ap.add_argument("--repeat", type=int, default=21, help="batches timed per history")
    args = ap.parse_args()
    if args.histories:
        histories(args.repeat)
        return 0
    run = simulate(
        SimConfig(seed=args.seed, workers=args.workers, days=args.days), load_sanctions_lists()
    )
    services = ",".join(run.truth["service_addresses"].values())  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        with path.open("wb") as fh:
            for e in run.events:
                fh.write(encode_line(e))
        raw_worker_bytes = sum(
            len(orjson.dumps(e.payload))
            for e in run.events
            if e.topic in ("tasks", "quality", "payouts")
        )
        settings = load_settings({"VIGIL_SERVICE_ADDRESSES": services})
        now = datetime(2100, 1, 1, tzinfo=UTC)
        t0 = time.perf_counter()
        result = replay_files(settings, [path], clock=lambda: now, progress=False)
        took = time.perf_counter() - t0
    workers = {w.encode(): encode_state(s) for w, s in result.states.items()}
    addresses = {
        a.encode(): orjson.dumps(exposure_state_to_record(s))
        for a, s in result.links.addresses.items()
    }
    nw, na = len(workers), len(addresses)
    json_w = sum(map(len, workers.values())) / nw
    json_a = sum(map(len, addresses.values())) / max(na, 1)
    disk_w = rocks_bytes(workers) / nw
    disk_a = rocks_bytes(addresses) / max(na, 1)
    raw = raw_worker_bytes / nw
    events = sum(1 for e in run.events if e.topic in ("tasks", "quality", "payouts")) / nw
    print(
        f"\n{nw} workers x {args.days} days ({events:.0f} worker events each), "
        f"{na} addresses; replay {len(run.events) / took:,.0f} events/s\n"
    )
    print(
        "| what | bytes per worker (record) | ratio to raw input | RocksDB on disk per worker "
        "| per million workers (disk) |\n|---|---:|---:|---:|---:|"
    )
    print(f"| raw input events of a worker (baseline) | {raw:,.0f} | 1.00 | – | – |")
    print(
        f"| worker state (trust, drift, id window; MessagePack v4) | {json_w:,.0f} "
        f"| {json_w / raw:.2f} | "
        f"{disk_w:,.0f} | {disk_w * 1e6 / 2**30:.1f} GiB |"
    )
    per_worker_addr = disk_a * na / nw
    print(
        f"| wallet side, per worker ({na / nw:.1f} addresses each, {json_a:,.0f} B JSON, "
        f"{disk_a:,.0f} B disk per address) | {json_a * na / nw:,.0f} | "
        f"{json_a * na / nw / raw:.2f} | {per_worker_addr:,.0f} | "
        f"{per_worker_addr * 1e6 / 2**30:.1f} GiB |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
