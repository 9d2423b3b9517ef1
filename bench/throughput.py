"""Events per second through the real broker: `vigil worker` (1 and 2 processes) vs raw aiokafka.

All read the same three worker topics in the same run, so the ratios are robust
to a noisy shared machine. Each engine run is a fresh consumer group reading
from the start. A last line measures the engine's processing with no Kafka at
all (decode + state update + record, the `vigil replay` path).

    .venv/bin/python bench/throughput.py --events 60000 --workers 6000 --engines 1 2

Starts its own broker on 127.0.0.1:39092 unless --bootstrap is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import broker  # noqa: E402  (bench/ is a folder of scripts, not a package)

from tests.helpers.events import make_events  # noqa: E402

VIGIL = str(Path(sys.executable).with_name("vigil"))


def produce(bootstrap: str, prefix: str, events: list[tuple[str, dict[str, object]]]) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=20,
        batch_size=512 * 1024,
        compression_type=None,
    )
    t0 = time.perf_counter()
    for topic, e in events:
        producer.send(f"{prefix}{topic}", key=str(e["worker_id"]).encode(), value=orjson.dumps(e))
    producer.flush()
    producer.close()
    return time.perf_counter() - t0


async def raw_consume(bootstrap: str, topics: list[str], n: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    seen = 0
    t0 = None
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for msgs in batch.values():
                if t0 is None and msgs:
                    t0 = time.perf_counter()
                for m in msgs:
                    orjson.loads(m.value)  # the raw consumer decodes JSON too: a fair floor
                seen += sum(len(m) for m in batch.values()) if False else len(msgs)
    finally:
        await consumer.stop()
    return time.perf_counter() - (t0 or time.perf_counter())


def applied_total(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:  # noqa: S310
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("vigil_events_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def engine_run(
    bootstrap: str, prefix: str, n: int, workdir: Path, port: int, engines: int = 1
) -> tuple[float, float, float]:
    """Run `engines` worker processes in one group until they applied `n` events.

    Returns the seconds from the first applied event to the last, the largest
    resident memory of a process at the end (MiB), and the CPU seconds the
    processes used from the first applied event to the last (robust to a
    loaded machine, unlike the wall clock).
    """
    procs = []
    for k in range(engines):
        env = dict(
            os.environ,
            VIGIL_KAFKA_BOOTSTRAP=bootstrap,
            VIGIL_TOPIC_PREFIX=prefix,
            VIGIL_APP_ID=f"{prefix}bench{engines}",  # a fresh group per run reads from the start
            VIGIL_WEB_PORT=str(port + k),
            VIGIL_DATA_DIR=str(workdir / f"engine-{k}"),
            VIGIL_LOG_LEVEL="WARNING",
        )
        with (workdir / f"engine-{k}.log").open("wb") as log:
            procs.append(
                subprocess.Popen([VIGIL, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
            )
    try:
        t_first = None
        cpu_first = 0.0
        deadline = time.monotonic() + 1800
        done = 0.0
        while time.monotonic() < deadline:
            done = 0.0
            for k in range(engines):
                try:
                    done += applied_total(port + k)
                except OSError:
                    pass
            now = time.perf_counter()
            if done > 0 and t_first is None:
                t_first = now
                cpu_first = sum(cpu_seconds(p.pid) for p in procs)
            if done >= n:
                break
            for k, proc in enumerate(procs):
                if proc.poll() is not None:
                    log_text = (workdir / f"engine-{k}.log").read_text()[-2000:]
                    raise SystemExit(f"engine {k} died:\n{log_text}")
            time.sleep(0.2)
        elapsed = time.perf_counter() - (t_first or time.perf_counter())
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_first
        rss_mb = 0.0
        for proc in procs:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                rss_mb = max(rss_mb, int(status.split("VmRSS:")[1].split()[0]) / 1024)
            except (OSError, IndexError, ValueError):
                pass
        return elapsed, rss_mb, cpu
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)


def core_only(events: list[tuple[str, dict[str, object]]]) -> float:
    from config.settings import Settings
    from streams.processor import Processor, group_by_worker

    processor = Processor(Settings())
    raws = [(f"vigil.{t}", orjson.dumps(e)) for t, e in events]
    states: dict[str, object] = {}
    from reputation.state import WorkerState

    t0 = time.perf_counter()
    for i in range(0, len(raws), 2000):
        decoded = [processor.decode(t, r) for t, r in raws[i : i + 2000]]
        for worker, items in group_by_worker([d for d in decoded if not hasattr(d, "reason")]):  # type: ignore[misc]
            state = states.get(worker) or WorkerState(worker)
            applied = processor.apply(state, items)  # type: ignore[arg-type]
            states[worker] = applied.state
            orjson.dumps(processor.record(applied.state).to_json())
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=20_000)
    ap.add_argument("--bootstrap")
    ap.add_argument("--port", type=int, default=16090)
    ap.add_argument("--engines", type=int, nargs="+", default=[1, 2], help="process counts to run")
    args = ap.parse_args()

    kafka = contextlib.ExitStack()
    bootstrap = kafka.enter_context(broker(args.bootstrap))  # a fresh broker each run
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    try:
        env = dict(os.environ, VIGIL_KAFKA_BOOTSTRAP=bootstrap, VIGIL_TOPIC_PREFIX=prefix)
        subprocess.run([VIGIL, "topics"], env=env, check=True, capture_output=True)
        events = make_events(args.workers, args.events, seed=11)
        t_produce = produce(bootstrap, prefix, events)
        topics = [f"{prefix}{t}" for t in ("tasks", "quality", "payouts")]
        t_raw = asyncio.run(raw_consume(bootstrap, topics, len(events)))
        runs: dict[int, tuple[float, float, float]] = {}
        for engines in args.engines:
            with tempfile.TemporaryDirectory() as tmp:
                runs[engines] = engine_run(
                    bootstrap, prefix, len(events), Path(tmp), args.port, engines
                )
        t_core = core_only(events)
    finally:
        kafka.close()
    n = len(events)
    rows = [("raw aiokafka consumer + JSON decode (baseline)", n / t_raw, 1.0)]
    for engines, (t_engine, _, _) in runs.items():
        what = "1 vigil worker process" if engines == 1 else f"{engines} vigil worker processes"
        rows.append(
            (f"{what}, full state (RocksDB, changelog, scores out)", n / t_engine, t_raw / t_engine)
        )
    rows.append(("engine core without Kafka (decode, apply, record)", n / t_core, t_raw / t_core))
    print(
        f"\n{n} events, {args.workers} workers, 8 partitions; "
        f"producer wrote {n / t_produce:,.0f} ev/s\n"
    )
    print("| path | events/s | ratio to baseline |\n|---|---:|---:|")
    for name, rate, ratio in rows:
        print(f"| {name} | {rate:,.0f} | {ratio:.2f} |")
    print("\n| engine processes | CPU µs per event (all processes) |\n|---:|---:|")
    for engines, (_, _, cpu) in runs.items():
        print(f"| {engines} | {cpu / n * 1e6:,.0f} |")
    for engines, (_, rss, _) in runs.items():
        print(f"\nlargest engine RSS at the end with {engines} process(es): {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
