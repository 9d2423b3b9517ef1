"""Latency through the real broker and `vigil worker`: payout to alert, event to score.

``--mode alerts`` (default): loads the real OFAC list into the sanctions topic,
starts one engine (``--engines N``: N processes in one group), then produces
payouts at a fixed rate (default 1,000/s): ``--warmup`` seconds not counted,
then ``--seconds`` measured. A share of them go to listed wallets (each by a
new worker, so each raises its own alert). The latency of an alert is its Kafka
timestamp (set by the engine's producer) minus the time the payout was handed
to the producer. It also prints the engine's CPU per event over the measured
part and its own CPU (producer and readers share the machine with the engine).

``--mode scores``: task events at a fixed rate, each for a new worker, so each
``vigil.scores`` record answers exactly one event; latency as above.

The baseline, measured in the same run on the same broker, is the time from
producing an event to a plain consumer reading it.

    .venv/bin/python bench/alert_latency.py --rate 1000 --seconds 60
    .venv/bin/python bench/alert_latency.py --mode scores --rate 2000 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import broker  # noqa: E402  (bench/ is a folder of scripts, not a package)

VIGIL = str(Path(sys.executable).with_name("vigil"))
OFAC = REPO / "chain" / "data" / "ofac_sdn_evm_addresses.csv"


def listed() -> list[str]:
    with OFAC.open() as fh:
        return [row["address"].lower() for row in csv.DictReader(fh)]


def wallet(i: int) -> str:
    return f"0x{(0xA11CE << 128) + i:040x}"


def payout(i: int, worker: str, to: str, at_s: float) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"lat-{i}",
            "worker_id": worker,
            "payer_id": f"agent-{i % 7}",
            "wallet": to,
            "chain_id": 1,
            "asset": "USDC",
            "amount": "25.00",
            "paid_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at_s)),
        }
    )


def task(i: int, worker: str, at_s: float) -> bytes:
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at_s))
    return orjson.dumps(
        {
            "event_id": f"lat-{i}",
            "worker_id": worker,
            "payer_id": f"agent-{i % 7}",
            "task_id": f"k-{i}",
            "outcome": "accepted",
            "assigned_at": t,
            "completed_at": t,
        }
    )


def consume(
    bootstrap: str, topic: str, want: int, out: dict[str, float], stop: threading.Event, key_of: str
) -> None:
    """Read `topic` from the start into `out` (event id -> time) until `want` or `stop`."""
    asyncio.run(_consume(bootstrap, topic, want, out, stop, key_of))


def consume_all(
    jobs: list[tuple[str, str, int, dict[str, float], str]], stop: threading.Event
) -> None:
    """Run several `consume` jobs (bootstrap, topic, want, out, key_of) in one event loop.

    One thread for all readers: a thread each made them contend for the GIL.
    """

    async def run() -> None:
        await asyncio.gather(*(_consume(b, t, w, o, stop, k) for b, t, w, o, k in jobs))

    asyncio.run(run())


async def _consume(
    bootstrap: str, topic: str, want: int, out: dict[str, float], stop: threading.Event, key_of: str
) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    # aiokafka, not kafka-python: kafka-python's producer and readers took ~0.7 ms
    # of CPU per payout, most of a core at 1,000/s, taken from the engine measured.
    # No consumer group: a group's coordinator lookup on a fresh broker sometimes
    # took longer than the run and the reader saw nothing. The engine's output
    # carries its own time (the record's timestamp), so its reader can long-poll;
    # the baseline reader's clock is the measurement: 20 ms.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20 if key_of == "payout" else 500,
    )
    await consumer.start()
    try:
        partitions = None
        while not partitions and not stop.is_set():
            # partitions_for_topic reads only metadata the client already tracks
            metadata = await consumer._client.fetch_all_metadata()  # noqa: SLF001
            partitions = metadata.partitions_for_topic(topic)
            if not partitions:
                await asyncio.sleep(0.1)
        # From the start (auto_offset_reset): no group, so no committed offsets.
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions or ())])
        while not stop.is_set() and len(out) < want:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for r in records:
                    rec = orjson.loads(r.value)
                    if key_of == "alert":
                        # Only the payout's own alert: a later SHARED_WALLET alert (another
                        # worker paid to the same listed wallet) names the same first
                        # event and would overwrite its time (this read as a 11.7 s p99).
                        if rec["type"] == "SANCTIONED_PAYOUT":
                            out.setdefault(str(rec["event_ids"][0]), r.timestamp / 1000.0)
                    elif key_of == "score":
                        out["lat-" + str(rec["worker_id"]).removeprefix("lat-w-")] = (
                            r.timestamp / 1000.0
                        )
                    else:
                        out[str(rec["event_id"])] = time.time()
    finally:
        await consumer.stop()


def produce_share(*job: Any) -> dict[str, float]:
    """Run `_produce_share` (a process of its own above ~4,000 events/s)."""
    result: dict[str, float] = asyncio.run(_produce_share(*job))
    return result


async def _produce_share(
    bootstrap: str,
    topic: str,
    n: int,
    rate: float,
    every: int,
    scores: bool,
    targets: list[str],
    k: int,
    n_proc: int,
    began: float,
) -> dict[str, float]:
    from aiokafka import AIOKafkaProducer

    # linger 5 ms (Kafka's default from 4.0): one request per event is CPU taken
    # from the engine on a small machine.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=10)
    await producer.start()
    sent: dict[str, float] = {}
    try:
        for i in range(k, n, n_proc):
            due = began + i / rate
            # Events due within 10 ms go now, so the producer wakes ~100 times a
            # second: on these VMs a wake-up costs ~0.15 ms of CPU, and one per event
            # took a fifth of a core from the engine at 1,000/s. Latency counts from
            # the actual send time, so sending early changes no measurement.
            if (wait := due - time.time()) > 0.010:
                await asyncio.sleep(wait)
            to = targets[i % len(targets)] if i % every == 0 else wallet(i)
            worker = f"lat-w-{i}" if i % every == 0 else f"lat-w-{i % 5000}"
            value = task(i, worker, due) if scores else payout(i, worker, to, due)
            sent[f"lat-{i}"] = time.time()
            await producer.send(topic, value, key=worker.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def wait_ready(ports: list[int], procs: list[subprocess.Popen[bytes]]) -> None:
    """Wait until every engine answers /readyz (table recovery and rebalance done)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 300
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise SystemExit("an engine exited during start-up; see its log")
        try:
            url = f"http://127.0.0.1:{pending[0]}/readyz"
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    pending.pop(0)
                    continue
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    if pending:
        raise SystemExit(f"engines on ports {pending} not ready within 300 s")


def batch_stats(ports: list[int]) -> str:
    """Scoring batches and their mean size, from the engines' own metrics."""
    import urllib.request

    count = total = 0.0
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:  # noqa: S310
            for line in r.read().decode().splitlines():
                if line.startswith("vigil_batch_size_messages_count"):
                    count += float(line.split()[-1])
                elif line.startswith("vigil_batch_size_messages_sum"):
                    total += float(line.split()[-1])
    return f"{count:,.0f} scoring batches, {total / max(count, 1):.1f} messages each on average"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q)) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("alerts", "scores"), default="alerts")
    ap.add_argument("--rate", type=float, default=1000.0, help="payouts per second")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds of load")
    ap.add_argument(
        "--warmup",
        type=float,
        default=20.0,
        help="seconds of the same load before the measured ones, not counted (a fresh "
        "broker's JIT compiler takes a core for the first minute under load)",
    )
    ap.add_argument(
        "--flagged-every", type=int, default=20, help="1 in N payouts is to a listed wallet"
    )
    ap.add_argument("--bootstrap")
    ap.add_argument("--port", type=int, default=16095)
    ap.add_argument("--engines", type=int, default=1, help="vigil worker processes (one group)")
    ap.add_argument(
        "--producers", type=int, default=0, help="producer processes (default: 1 per 4,000/s)"
    )
    ap.add_argument("--dump", type=Path, help="write send time and latency of each alert (CSV)")
    args = ap.parse_args()

    from kafka import KafkaProducer

    kafka = contextlib.ExitStack()
    bootstrap = kafka.enter_context(broker(args.bootstrap))  # a fresh broker each run
    prefix = f"lat{uuid.uuid4().hex[:6]}."
    env = dict(
        os.environ,
        VIGIL_KAFKA_BOOTSTRAP=bootstrap,
        VIGIL_TOPIC_PREFIX=prefix,
        VIGIL_APP_ID=f"{prefix}engine",
        VIGIL_WEB_PORT=str(args.port),
        VIGIL_LOG_LEVEL="WARNING",
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([VIGIL, "topics"], env=env, check=True, capture_output=True)
        subprocess.run(
            [
                VIGIL,
                "sanctions",
                "load",
                str(OFAC),
                "--bootstrap",
                bootstrap,
                "--topic-prefix",
                prefix,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        tmp = tempfile.mkdtemp(prefix="vigil-lat-")
        for k in range(args.engines):  # one consumer group: the partitions are shared
            env_k = dict(env, VIGIL_DATA_DIR=f"{tmp}/engine-{k}", VIGIL_WEB_PORT=str(args.port + k))
            with (Path(tmp) / f"engine-{k}.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [VIGIL, "worker"], env=env_k, stdout=log, stderr=subprocess.STDOUT
                    )
                )
        wait_ready([args.port + k for k in range(args.engines)], procs)
        # Warm up: one event must come back as an alert (or score) before timing starts.
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=1)
        targets = listed()
        scores = args.mode == "scores"
        out_topic, in_topic = ("scores", "tasks") if scores else ("alerts", "payouts")
        kind = "score" if scores else "alert"
        warm_value = (
            task(-1, "lat-w--1", time.time())
            if scores
            else payout(-1, "warm", targets[0], time.time())
        )
        producer.send(f"{prefix}{in_topic}", key=b"warm", value=warm_value)
        producer.flush()
        warm: dict[str, float] = {}
        consume(bootstrap, f"{prefix}{out_topic}", 1, warm, threading.Event(), kind)

        n, n_warm = int(args.rate * args.seconds), int(args.rate * args.warmup)
        n_all = n_warm + n
        every = 1 if scores else args.flagged_every
        flagged = [i for i in range(n_warm, n_all) if i % every == 0]  # measured
        want = len([i for i in range(n_all) if i % every == 0]) + 1  # with warm-ups
        measured = {f"lat-{i}" for i in range(n_warm, n_all)}
        sent: dict[str, float] = {}
        alerts: dict[str, float] = {}
        seen: dict[str, float] = {}
        stop = threading.Event()
        jobs = [
            (bootstrap, f"{prefix}{out_topic}", want, alerts, kind),
            (bootstrap, f"{prefix}{in_topic}", n_all + 1, seen, "payout"),
        ]
        threads = [threading.Thread(target=consume_all, args=(jobs, stop))]
        producer.close()
        for t in threads:
            t.start()
        # One producer process offered ~5,000 events/s next to the readers;
        # above that the schedule is split over producer processes (own GIL each).
        n_proc = args.producers or max(1, math.ceil(args.rate / 4000))
        job = (bootstrap, f"{prefix}{in_topic}", n_all, args.rate, every, scores, targets)
        began = time.time() + (3.0 if n_proc > 1 else 0.2)  # processes start first
        cpu0: list[float] = []  # engine and own CPU when the measured load begins
        timer = threading.Timer(
            began + args.warmup - time.time(),
            lambda: cpu0.extend((sum(cpu_seconds(p.pid) for p in procs), cpu_seconds(os.getpid()))),
        )
        timer.start()
        if n_proc == 1:
            sent = produce_share(*job, 0, 1, began)
        else:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(n_proc) as pool:
                shares = pool.starmap(
                    produce_share, [(*job, k, n_proc, began) for k in range(n_proc)]
                )
            for share in shares:
                sent.update(share)
        achieved = n / (max(sent.values()) - began - args.warmup)
        deadline = time.time() + 120
        while time.time() < deadline and len(alerts) < want:
            time.sleep(0.2)
        timer.join()
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0[0]
        own = cpu_seconds(os.getpid()) - cpu0[1]
        batches = batch_stats([args.port + k for k in range(args.engines)])
        stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        kafka.close()

    lat = [alerts[k] - sent[k] for k in measured if k in alerts and k in sent]
    if args.dump:  # warm-up included: the first `--warmup` seconds of sent_s
        t0 = min(sent.values())
        rows = [f"{sent[k] - t0:.3f},{alerts[k] - sent[k]:.3f}" for k in sent if k in alerts]
        args.dump.write_text("sent_s,latency_s\n" + "\n".join(rows) + "\n")
    base = [seen[k] - sent[k] for k in measured if k in seen and k in sent]
    what = "task events, one new worker each" if scores else "payouts"
    out = "scores" if scores else f"alerts ({len(flagged)} payouts to listed wallets)"
    print(
        f"\n{n} {what} at {achieved:,.0f}/s offered ({args.rate:,.0f} target) after "
        f"{n_warm} not counted ({args.warmup:g} s warm-up); "
        f"{len(lat)} of {len(flagged)} {out} received\n"
    )
    print("| path | p50 ms | p99 ms | max ms | p99 ratio to baseline |\n|---|---:|---:|---:|---:|")
    print(
        f"| produce -> plain consumer reads the {in_topic} event (baseline) | "
        f"{pct(base, 50):.1f} | {pct(base, 99):.1f} | {pct(base, 100):.1f} | 1.00 |"
    )
    label = "task -> its record on vigil.scores" if scores else "payout -> SANCTIONED_PAYOUT"
    print(
        f"| {label} | {pct(lat, 50):.1f} | "
        f"{pct(lat, 99):.1f} | {pct(lat, 100):.1f} | {pct(lat, 99) / pct(base, 99):.2f} |"
    )
    print(
        f"\nengine CPU from the first measured event to the last {kind}: {cpu:.1f} s, "
        f"{cpu / n * 1e6:,.0f} µs per {'task' if scores else 'payout'}; {batches}; "
        f"this benchmark's own CPU (producer and readers, in process): {own:.1f} s"
    )
    return 0 if len(lat) == len(flagged) else 1


if __name__ == "__main__":
    sys.exit(main())
