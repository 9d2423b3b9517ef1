"""Serving beside the stream: engine events/s with 0, 8 and 32 API clients, in one run.

Starts a fresh broker (unless ``--bootstrap``), one ``vigil worker``, loads
``--preload`` events for ``--workers`` workers and waits until the engine has
applied them, then produces worker events at a fixed ``--rate`` for the rest
of the run. Three phases follow, each ``--warmup`` seconds not counted and
``--seconds`` measured: no API clients (the idle figure), 8 and 32 clients.
A client sends one request after another as fast as the engine answers,
cycling through the read routes (trust, explain, rank of 20 workers, alerts,
a wallet's exposure, overview).

Per phase it prints the events the engine applied per second (from its own
``vigil_events_total`` counter, read at the phase's start and end), the
consumer lag as the broker has it (end offsets minus the group's committed
offsets) next to what the engine's ``vigil_consumer_lag_messages`` gauge says,
and requests/s with p50 / p99 latency per route, next to the engine's own part
of each answer (its ``Server-Timing`` header: read-gate queue plus handler).
To tell a held loop from a slow client it also prints, per phase, how often the
engine's loop was held (``vigil_event_loop_lag_seconds``), its batches' times,
the read gate's queue, the machine's CPU and this script's, and how late this
script's own loop woke (other jobs on the machine show there). The engine
keeps up when its events/s equal the rate; ``--rate`` above its capacity
measures how much of it the readers take.

    .venv/bin/python bench/serving.py --rate 300 --seconds 30

Starts its own broker on 127.0.0.1:39292 unless --bootstrap is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import broker  # noqa: E402  (bench/ is a folder of scripts, not a package)

from tests.helpers.events import make_events  # noqa: E402

VIGIL = str(Path(sys.executable).with_name("vigil"))
WORKER_TOPICS = ("tasks", "quality", "payouts")
LOOP_LAG = "vigil_event_loop_lag_seconds"
BATCH = "vigil_batch_seconds"
GATE_WAITS, GATE_WAIT_S = "vigil_api_gate_waits_total", "vigil_api_gate_wait_seconds_total"
ROUTES = ("trust", "explain", "rank", "alerts", "exposure", "overview")


def metric_lines(port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:  # noqa: S310
        return list(r.read().decode().splitlines())


def worker_metric_sum(port: int, name: str) -> float:
    """Sum one of the engine's metrics over the worker topics' series."""
    total = 0.0
    for line in metric_lines(port):
        if line.startswith(name + "{") and any(f'topic="{t}"' in line for t in WORKER_TOPICS):
            total += float(line.rsplit(" ", 1)[1])
    return total


def applied_total(port: int) -> float:
    """Worker events the engine applied (or found duplicate or dead-lettered) so far."""
    return worker_metric_sum(port, "vigil_events_total")


def engine_lag(port: int) -> float:
    """The engine's own consumer-lag gauge, summed over the worker topics."""
    return worker_metric_sum(port, "vigil_consumer_lag_messages")


def broker_lag(bootstrap: str, group: str, prefix: str) -> int:
    """End offsets minus the group's committed offsets over the worker topics (the truth)."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-serving")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        committed = admin.list_group_offsets({group: None})[group]
        tps = [
            TopicPartition(f"{prefix}{t}", p)
            for t in WORKER_TOPICS
            for p in consumer.partitions_for_topic(f"{prefix}{t}") or ()
        ]
        ends = consumer.end_offsets(tps)
        lag = 0
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag += max(0, ends[tp] - done)
        return lag
    finally:
        consumer.close()
        admin.close()


def histogram(port: int, name: str) -> dict[float, float]:
    """Return a histogram's cumulative bucket counts by upper bound (``le``)."""
    out: dict[float, float] = {}
    for line in metric_lines(port):
        if line.startswith(name + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float(le)] = out.get(float(le), 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def over(h0: dict[float, float], h1: dict[float, float], bound: float) -> tuple[float, float]:
    """Return (observations, those above `bound`) between two readings of a histogram."""
    total = h1.get(float("inf"), 0.0) - h0.get(float("inf"), 0.0)
    below = h1.get(bound, 0.0) - h0.get(bound, 0.0)
    return total, total - below


def counter(port: int, name: str) -> float:
    """Return an unlabelled counter's value (0 if absent)."""
    for line in metric_lines(port):
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def machine_busy() -> tuple[float, float]:
    """Return (busy, total) seconds of all CPUs from /proc/stat (busy: not idle, not iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick


def own_cpu() -> float:
    """CPU seconds of this process (the clients and the producer thread)."""
    t = os.times()
    return t.user + t.system


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def produce_now(bootstrap: str, prefix: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20)
    for topic, e in events:
        producer.send(f"{prefix}{topic}", key=str(e["worker_id"]).encode(), value=orjson.dumps(e))
    producer.flush()
    producer.close()


def produce_at_rate(
    bootstrap: str,
    prefix: str,
    events: list[tuple[str, dict[str, Any]]],
    rate: float,
    stop: threading.Event,
) -> None:
    """Send `events` at `rate` per second until they run out or `stop` is set."""

    async def run() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=10)
        await producer.start()
        began = time.time()
        try:
            for i, (topic, e) in enumerate(events):
                if stop.is_set():
                    break
                # Wake ~100 times a second, not once per event (CPU taken from the engine).
                if (wait := began + i / rate - time.time()) > 0.010:
                    await asyncio.sleep(wait)
                key = str(e["worker_id"]).encode()
                await producer.send(f"{prefix}{topic}", orjson.dumps(e), key=key)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(run())


async def hammer(
    port: int,
    clients: int,
    seconds: float,
    workers: list[str],
    wallets: list[str],
    seed: int,
) -> dict[str, list[float]]:
    """Run `clients` closed-loop clients for `seconds`; return latencies (s) per route."""
    import aiohttp

    base = f"http://127.0.0.1:{port}"
    lat: dict[str, list[float]] = {r: [] for r in ROUTES}
    lat.update((f"{r} engine", []) for r in ROUTES)
    lat["client loop lag"] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)

    async def one(session: aiohttp.ClientSession, k: int) -> None:
        rnd = random.Random(seed * 1000 + k)
        i = k
        while time.perf_counter() < deadline:
            route = ROUTES[i % len(ROUTES)]
            i += 1
            w = rnd.choice(workers)
            t0 = time.perf_counter()
            if route == "rank":
                body = orjson.dumps({"workers": rnd.sample(workers, 20), "min_confidence": 0.1})
                req = session.post(
                    f"{base}/rank", data=body, headers={"Content-Type": "application/json"}
                )
            elif route == "trust":
                req = session.get(f"{base}/workers/{w}/trust")
            elif route == "explain":
                req = session.get(f"{base}/workers/{w}/explain")
            elif route == "alerts":
                req = session.get(f"{base}/alerts?limit=50")
            elif route == "exposure":
                req = session.get(f"{base}/wallets/{rnd.choice(wallets)}/exposure")
            else:
                req = session.get(f"{base}/overview")
            async with req as resp:
                await resp.read()
                if resp.status != 200:
                    errors[f"{route} {resp.status}"] = errors.get(f"{route} {resp.status}", 0) + 1
                engine_s = server_timing_s(resp.headers.get("Server-Timing", ""))
            lat[route].append(time.perf_counter() - t0)
            lat[f"{route} engine"].append(engine_s)

    async def watch_own_loop() -> None:
        """How late this script's own loop wakes a 10 ms timer (the clients' side)."""
        loop = asyncio.get_running_loop()
        while time.perf_counter() < deadline:
            asked = loop.time() + 0.01
            await asyncio.sleep(0.01)
            lat["client loop lag"].append(max(0.0, loop.time() - asked))

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(watch_own_loop(), *(one(session, k) for k in range(clients)))
    if errors:
        print(f"  non-200 answers: {errors}", file=sys.stderr)
    return lat


def server_timing_s(header: str) -> float:
    """Sum the durations (ms) of a ``Server-Timing`` header, in seconds."""
    total = 0.0
    for part in header.split(","):
        for item in part.split(";")[1:]:
            name, _, value = item.strip().partition("=")
            if name == "dur":
                total += float(value) / 1000.0
    return total


def wait_for(check: Any, timeout_s: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the engine exited while waiting for {what}")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.5)
    raise SystemExit(f"timed out after {timeout_s:.0f}s waiting for {what}")


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:  # noqa: S310
            return bool(r.status == 200)
    except urllib.error.HTTPError:
        return False


def ms(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q)) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=float, default=300.0, help="worker events produced per second")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured seconds per phase")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds per phase not counted")
    ap.add_argument("--workers", type=int, default=300)
    ap.add_argument("--preload", type=int, default=20_000, help="events applied before phases")
    ap.add_argument("--clients", type=int, nargs="+", default=[0, 8, 32])
    ap.add_argument("--bootstrap")
    ap.add_argument("--broker-port", type=int, default=39292)
    ap.add_argument("--port", type=int, default=16097, help="the engine's HTTP port")
    args = ap.parse_args()

    phases = len(args.clients) * (args.seconds + args.warmup)
    total = args.preload + int(args.rate * (phases + 60))
    events = make_events(args.workers, total, seed=7)
    preload, live = events[: args.preload], events[args.preload :]
    workers = sorted({str(e["worker_id"]) for _, e in preload})
    wallets = sorted({str(e["wallet"]) for t, e in preload if t == "payouts"})

    kafka = contextlib.ExitStack()
    bootstrap = kafka.enter_context(broker(args.bootstrap, port=args.broker_port))
    prefix = f"srv{uuid.uuid4().hex[:6]}."
    group = f"{prefix}engine"
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-serving-"))
    env = dict(
        os.environ,
        VIGIL_KAFKA_BOOTSTRAP=bootstrap,
        VIGIL_TOPIC_PREFIX=prefix,
        VIGIL_APP_ID=group,
        VIGIL_WEB_PORT=str(args.port),
        VIGIL_DATA_DIR=str(workdir / "engine"),
        VIGIL_LOG_LEVEL="WARNING",
    )
    stop = threading.Event()
    rows: list[tuple[int, float, float, int, float, float]] = []
    lats: dict[int, dict[str, list[float]]] = {}
    stalls: list[tuple[int, float, float, float]] = []
    batches: list[tuple[int, float, float, float]] = []
    gate: list[tuple[float, float]] = []
    cpus: list[tuple[float, int, float, float]] = []
    try:
        subprocess.run([VIGIL, "topics"], env=env, check=True, capture_output=True)
        produce_now(bootstrap, prefix, preload)
        with (workdir / "engine.log").open("wb") as log:
            proc = subprocess.Popen(
                [VIGIL, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_for(lambda: ready(args.port), 300, "/readyz", proc)
            wait_for(lambda: applied_total(args.port) >= len(preload), 600, "the preload", proc)
            producer = threading.Thread(
                target=produce_at_rate, args=(bootstrap, prefix, live, args.rate, stop)
            )
            producer.start()
            for clients in args.clients:
                if clients:
                    asyncio.run(hammer(args.port, clients, args.warmup, workers, wallets, 1))
                else:
                    time.sleep(args.warmup)
                a0, c0, t0 = applied_total(args.port), cpu_seconds(proc.pid), time.perf_counter()
                g0, b0 = histogram(args.port, LOOP_LAG), histogram(args.port, BATCH)
                w0 = counter(args.port, GATE_WAITS), counter(args.port, GATE_WAIT_S)
                m0, o0 = machine_busy(), own_cpu()
                if clients:
                    lat = asyncio.run(hammer(args.port, clients, args.seconds, workers, wallets, 2))
                else:
                    time.sleep(args.seconds)
                    lat = {}
                elapsed = time.perf_counter() - t0
                a1, c1 = applied_total(args.port), cpu_seconds(proc.pid)
                g1, b1 = histogram(args.port, LOOP_LAG), histogram(args.port, BATCH)
                w1 = counter(args.port, GATE_WAITS), counter(args.port, GATE_WAIT_S)
                m1, o1 = machine_busy(), own_cpu()
                cpus.append(
                    (
                        (m1[0] - m0[0]) / elapsed,
                        os.cpu_count() or 1,
                        (o1 - o0) / elapsed,
                        os.getloadavg()[0],
                    )
                )
                gate.append((w1[0] - w0[0], w1[1] - w0[1]))
                stalls.append((clients, *over(g0, g1, 0.05), over(g0, g1, 0.1)[1]))
                batches.append((clients, *over(b0, b1, 0.05), over(b0, b1, 0.1)[1]))
                truth, told = broker_lag(bootstrap, group, prefix), engine_lag(args.port)
                rows.append(
                    (clients, (a1 - a0) / elapsed, (c1 - c0) / elapsed, truth, told, elapsed)
                )
                lats[clients] = lat
                print(
                    f"{clients:>2} clients: {(a1 - a0) / elapsed:,.0f} events/s, "
                    f"broker lag {truth:,}, engine gauge {told:,.0f}",
                    file=sys.stderr,
                )
        finally:
            stop.set()
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        kafka.close()

    idle = rows[0][1] if rows and rows[0][0] == 0 else float("nan")
    print(
        f"\n{args.workers} workers, {args.preload:,} events preloaded, then {args.rate:,.0f} "
        f"events/s produced; {args.seconds:.0f} s measured per phase\n"
    )
    print(
        "| API clients | engine events/s | ratio to idle | engine CPU (cores) "
        "| broker lag at end | engine's lag gauge | requests/s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for clients, rate, cpu, truth, told, elapsed in rows:
        reqs = sum(len(lats[clients].get(r, [])) for r in ROUTES) / elapsed
        print(
            f"| {clients} | {rate:,.0f} | {rate / idle:.2f} | {cpu:.2f} | {truth:,} "
            f"| {told:,.0f} | {reqs:,.0f} |"
        )
    print(
        "\n| API clients | loop wake-ups | late > 50 ms | late > 100 ms "
        "| worker batches | batches > 50 ms | batches > 100 ms | gate waits | gate wait s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (clients, wakes, late50, late100), (_, nb, b50, b100), (gw, gs) in zip(
        stalls, batches, gate, strict=True
    ):
        print(
            f"| {clients} | {wakes:,.0f} | {late50:,.0f} | {late100:,.0f} "
            f"| {nb:,.0f} | {b50:,.0f} | {b100:,.0f} | {gw:,.0f} | {gs:,.1f} |"
        )
    print(
        "\n| API clients | machine CPU busy (cores) | of | this script's CPU (clients, producer) "
        "| load average (1 min) at end |"
    )
    print("|---:|---:|---:|---:|---:|")
    for (clients, *_), (busy, ncpu, own, load) in zip(rows, cpus, strict=True):
        print(f"| {clients} | {busy:.2f} | {ncpu} | {own:.2f} | {load:.1f} |")
    for clients, lat in lats.items():
        if not lat:
            continue
        elapsed = next(r[5] for r in rows if r[0] == clients)
        print(
            f"\n{clients} clients:\n\n| route | requests/s | p50 ms | p99 ms | max ms "
            "| engine's part p50 ms | p99 ms |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for route in ROUTES:
            xs, es = lat[route], lat[f"{route} engine"]
            print(
                f"| {route} | {len(xs) / elapsed:,.0f} | {ms(xs, 50):.1f} | {ms(xs, 99):.1f} "
                f"| {max(xs, default=0) * 1000:.1f} | {ms(es, 50):.1f} | {ms(es, 99):.1f} |"
            )
        every = [x for r in ROUTES for x in lat[r]]
        engine = [x for r in ROUTES for x in lat[f"{r} engine"]]
        print(
            f"| all | {len(every) / elapsed:,.0f} | {ms(every, 50):.1f} | {ms(every, 99):.1f} "
            f"| {max(every, default=0) * 1000:.1f} | {ms(engine, 50):.1f} "
            f"| {ms(engine, 99):.1f} |"
        )
        own = lat["client loop lag"]
        print(
            f"\nthis script's own loop (the clients): a 10 ms timer woke late by "
            f"p50 {ms(own, 50):.1f} ms, p99 {ms(own, 99):.1f} ms, "
            f"max {max(own, default=0) * 1000:.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
