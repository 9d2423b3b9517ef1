"""Shared helpers of the broker benchmarks (throughput.py, latency.py, state_size.py).

A broker (started here or given by --bootstrap), fresh topic prefixes, a fast
producer, `vigil worker` subprocesses and their Prometheus metrics. Nothing in
here measures anything by itself.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

VIGIL = str(Path(sys.executable).with_name("vigil"))
WORKER_TOPICS = ("tasks", "quality", "payouts")
#: The field that carries each worker topic's event time (what `as_of` tracks).
TIME_FIELD = {"tasks": "completed_at", "quality": "scored_at", "payouts": "paid_at"}

Event = tuple[str, dict[str, object]]


def fresh_prefix(tag: str) -> str:
    """Return a topic prefix no earlier run used (so every measurement starts at offset 0)."""
    return f"bench{tag}{uuid.uuid4().hex[:6]}."


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def broker(bootstrap: str | None, port: int = 39092) -> Iterator[str]:
    """Yield a bootstrap address: the given one, or a broker started here and stopped after."""
    if bootstrap:
        yield bootstrap
        return
    from tests.helpers.kafka import ensure_single_broker

    started = ensure_single_broker(port, REPO / f".cache/kafka/run/bench-{port}")
    try:
        yield started.bootstrap
    finally:
        started.stop()


def create_topics(bootstrap: str, prefix: str) -> None:
    """Create the contract's topics under `prefix` with ``vigil topics`` (8 partitions)."""
    env = dict(os.environ, VIGIL_KAFKA_BOOTSTRAP=bootstrap, VIGIL_TOPIC_PREFIX=prefix)
    subprocess.run([VIGIL, "topics"], env=env, check=True, capture_output=True)


def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic whose name starts with `prefix` (inputs, outputs, Faust's own)."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-bench")
    try:
        doomed = [t for t in admin.list_topics() if t.startswith(prefix)]
        if doomed:
            admin.delete_topics(doomed, timeout_ms=30_000)
    except KafkaError as exc:  # cleanup only: a leftover topic costs disk, not correctness
        print(f"(could not delete {prefix}* topics: {exc})", file=sys.stderr)
    finally:
        admin.close()


def serialize(prefix: str, events: Sequence[Event]) -> list[tuple[str, bytes, bytes]]:
    """Return (full topic, key, value) triples, keyed by worker id as the platform does."""
    return [(f"{prefix}{t}", str(e["worker_id"]).encode(), orjson.dumps(e)) for t, e in events]


async def _produce_all(bootstrap: str, messages: Sequence[tuple[str, bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send(topic, key=key, value=value)  # buffers; no round trip
        await producer.flush()
    finally:
        await producer.stop()


def produce_all(bootstrap: str, prefix: str, events: Sequence[Event]) -> float:
    """Write `events` as fast as possible; return the seconds it took.

    aiokafka, not kafka-python: on this machine kafka-python's producer costs about
    50 us of CPU per message (about 10k messages/s), aiokafka's about 10 us.
    """
    messages = serialize(prefix, events)
    t0 = time.perf_counter()
    asyncio.run(_produce_all(bootstrap, messages))
    return time.perf_counter() - t0


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def timed_events(
    n_workers: int, n_events: int, seed: int, base: datetime, first_index: int = 0
) -> list[Event]:
    """`make_events`, re-timed: event ``i`` happens at ``base + first_index + i`` seconds.

    Event times then grow in production order (for every worker too), so "the first
    score whose ``as_of`` is at or after this event's time" names the record that
    first included the event.
    """
    from tests.helpers.events import make_events

    events = make_events(n_workers, n_events, seed=seed)
    for i, (topic, e) in enumerate(events):
        t = base + timedelta(seconds=first_index + i)
        e[TIME_FIELD[topic]] = iso(t)
        if topic == "tasks":
            e["assigned_at"] = iso(t - timedelta(minutes=40))
    return events


def recent_base(span_s: int) -> datetime:
    """A whole-second start time such that ``span_s`` seconds after it are still in the past."""
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(days=2, seconds=span_s)


# --- Prometheus text --------------------------------------------------------------------------


def parse_metrics(text: str) -> dict[str, float]:
    """Sum each sample name over its labels (``vigil_events_total``, ``..._bucket{le=...}``).

    Histogram buckets keep their ``le`` label: ``vigil_batch_seconds_bucket:0.05``.
    """
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name, _, labels = name_labels.partition("{")
        if name.endswith("_bucket"):
            le = labels.split('le="', 1)[1].split('"', 1)[0]
            name = f"{name}:{le}"
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return out


def histogram_summary(metrics: Mapping[str, float], name: str) -> dict[str, float]:
    """Count, mean and the bucket bounds holding the median and the 99th percentile."""
    count = metrics.get(f"{name}_count", 0.0)
    total = metrics.get(f"{name}_sum", 0.0)
    buckets = sorted(
        (float(k.split(":", 1)[1]), v)
        for k, v in metrics.items()
        if k.startswith(f"{name}_bucket:") and not k.endswith("+Inf")
    )

    def quantile_bound(q: float) -> float:
        for le, cum in buckets:
            if cum >= q * count:
                return le
        return float("inf")

    return {
        "count": count,
        "mean": total / count if count else 0.0,
        "p50_le": quantile_bound(0.5) if count else 0.0,
        "p99_le": quantile_bound(0.99) if count else 0.0,
    }


# --- the engine as a subprocess ---------------------------------------------------------------


@dataclass
class EngineProcess:
    """One ``vigil worker`` subprocess with its own web port and state directory."""

    bootstrap: str
    prefix: str
    app_id: str
    workdir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    argv: Sequence[str] = ()
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"engine-{self.port}.log"

    def start(self) -> EngineProcess:
        env = dict(
            os.environ,
            VIGIL_KAFKA_BOOTSTRAP=self.bootstrap,
            VIGIL_TOPIC_PREFIX=self.prefix,
            VIGIL_APP_ID=self.app_id,
            VIGIL_WEB_PORT=str(self.port),
            VIGIL_DATA_DIR=str(self.workdir / f"engine-{self.port}"),
            VIGIL_LOG_LEVEL="INFO",
            **self.extra_env,
        )
        argv = list(self.argv) or [VIGIL, "worker"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def _get(self, path: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as r:  # noqa: S310 (loopback)
                return int(r.status), r.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"engine on port {self.port} died:\n{tail}")

    def ready(self) -> bool:
        self.check_alive()
        try:
            return self._get("/readyz", 2.0)[0] == 200
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        """The engine's metrics, summed over labels (empty while the web server is down)."""
        self.check_alive()
        try:
            return parse_metrics(self._get("/metrics")[1].decode())
        except OSError:
            return {}

    def applied(self) -> float:
        """Input events the engine has finished with (applied, duplicate, dead-lettered...)."""
        return self.metrics().get("vigil_events_total", 0.0)

    def rss_mib(self) -> tuple[float, float]:
        """(current, peak) resident memory of the process in MiB."""
        if self.proc is None:
            return 0.0, 0.0
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return 0.0, 0.0
        fields = {
            k: int(v.split()[0]) / 1024
            for k, v in (line.split(":", 1) for line in status.splitlines() if ":" in line)
            if k in ("VmRSS", "VmHWM")
        }
        return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)

    def cpu_s(self) -> float:
        """User + system CPU seconds the process has used so far."""
        if self.proc is None:
            return 0.0
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")

    def pause(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


def wait_until(
    predicate: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.2
) -> None:
    """Poll `predicate` until it is true; SystemExit after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every_s)


def group_members(bootstrap: str, group: str) -> tuple[str, int]:
    """(state, number of members with an assignment) of a consumer group."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-bench")
    try:
        (desc,) = admin.describe_consumer_groups([group])
    finally:
        admin.close()
    state = str(getattr(desc, "state", ""))
    members = getattr(desc, "members", []) or []
    assigned = sum(1 for m in members if getattr(m, "member_assignment", None))
    return state, assigned


def load_line() -> str:
    """``uptime``-style load averages of the machine right now."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"
