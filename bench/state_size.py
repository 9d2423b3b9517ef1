"""Memory and disk per worker of engine state, measured on a simulated platform.

Replays a simulated run in process (the engine's own code), then measures the
stored records: the worker table's values (trust evidence, drift buckets,
applied event ids) and the wallet side's (one per address), as JSON bytes and
as written to RocksDB (rocksdict, the engine's driver and defaults). The
baseline in the same run is the raw input: the events' own JSON bytes per
worker. Figures per million workers are the per-worker means times 10^6.

    .venv/bin/python bench/state_size.py --workers 1000 --days 60
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from config.settings import load_settings  # noqa: E402
from reputation.codec import state_to_record  # noqa: E402
from reputation.exposure.codec import exposure_state_to_record  # noqa: E402
from sim.config import SimConfig  # noqa: E402
from sim.generate import simulate  # noqa: E402
from sim.output import encode_line, load_sanctions_lists  # noqa: E402
from streams.replay import replay_files  # noqa: E402


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
    args = ap.parse_args()
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
    workers = {w.encode(): orjson.dumps(state_to_record(s)) for w, s in result.states.items()}
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
        "| what | bytes per worker (JSON) | ratio to raw input | RocksDB on disk per worker "
        "| per million workers (disk) |\n|---|---:|---:|---:|---:|"
    )
    print(f"| raw input events of a worker (baseline) | {raw:,.0f} | 1.00 | – | – |")
    print(
        f"| worker state (trust, drift, applied ids) | {json_w:,.0f} | {json_w / raw:.2f} | "
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
