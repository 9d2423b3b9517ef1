"""Real Apache Kafka brokers for integration tests, run by ``deploy/kafka/kafka.sh``.

The script downloads the broker jars from Maven Central once (into the
git-ignored ``.cache/kafka``), then starts KRaft nodes on 127.0.0.1. These
classes only call the script and talk to the brokers with kafka-python's admin
client; the brokers run as separate processes, so always stop them in a fixture
finalizer.

Examples
--------
>>> broker = KafkaBroker(port=19092, controller_port=19093, dir=Path("/tmp/k"))
>>> broker.bootstrap
'127.0.0.1:19092'
"""

from __future__ import annotations

import gc
import os
import subprocess
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Set
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

with warnings.catch_warnings():
    # kafka-python 3.0.12 loads its protocol schemas at import time with
    # importlib.resources.read_text (which calls open_text), both deprecated
    # since Python 3.11; pytest turns that DeprecationWarning into an error.
    warnings.filterwarnings(
        "ignore", message="(read|open)_text is deprecated", category=DeprecationWarning
    )
    from kafka.admin import KafkaAdminClient
    from kafka.errors import (
        KafkaConnectionError,
        KafkaTimeoutError,
        NodeNotReadyError,
        UnknownTopicOrPartitionError,
    )

_T = TypeVar("_T")


class _TopicNotReadyError(Exception):
    """The broker asked does not know the topic yet (KRaft metadata reaches brokers late)."""


_RETRIABLE = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, _TopicNotReadyError)

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO_ROOT / "deploy" / "kafka" / "kafka.sh"

# Covers a first-time jar download plus the script's own start-up wait.
_START_TIMEOUT_S = 600.0
_STOP_TIMEOUT_S = 120.0
_TOPIC_TIMEOUT_S = 60.0
_RUNNING = 0
_STOPPED = 3


class KafkaScriptError(RuntimeError):
    """``deploy/kafka/kafka.sh`` failed; ``output`` holds what it printed (log tail included)."""

    def __init__(self, args: list[str], returncode: int, output: str) -> None:
        super().__init__(f"kafka.sh {' '.join(args)} exited with {returncode}:\n{output}")
        self.returncode = returncode
        self.output = output


def run_kafka_sh(
    args: list[str], *, timeout_s: float, allowed: Iterable[int] = (0,)
) -> subprocess.CompletedProcess[str]:
    """Run ``kafka.sh`` with ``args``; raise `KafkaScriptError` on any exit code not allowed."""
    proc = subprocess.run(
        ["bash", str(KAFKA_SH), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode not in set(allowed):
        raise KafkaScriptError(args, proc.returncode, proc.stdout + proc.stderr)
    return proc


@dataclass(frozen=True)
class PartitionInfo:
    """Leader, replicas and in-sync replicas of one partition, as metadata reports them."""

    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


class _TopicAdmin:
    """Topic creation and deletion, shared by `KafkaBroker` and `KafkaCluster`."""

    @property
    def bootstrap(self) -> str:
        raise NotImplementedError

    @property
    def replication_factor(self) -> int:
        raise NotImplementedError

    def admin_bootstrap(self) -> str:
        """Return the addresses the admin client bootstraps from (all of them by default)."""
        return self.bootstrap

    @contextmanager
    def admin(self, bootstrap: str | None = None) -> Iterator[KafkaAdminClient]:
        """Yield a kafka-python admin client connected to this broker (or cluster).

        kafka-python 3.0.12 does not close the socket of a refused connection (to a
        node just killed); its ResourceWarning would surface later as an unraisable
        error in whichever test runs the garbage collector. It is ignored here, and
        the collector runs before the filter is lifted.
        """
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="unclosed <socket", category=ResourceWarning)
            client = KafkaAdminClient(
                bootstrap_servers=bootstrap or self.admin_bootstrap(), client_id="vigil-tests"
            )
            try:
                yield client
            finally:
                client.close()
                gc.collect()

    def _read(self, query: Callable[[KafkaAdminClient], _T]) -> _T:
        """Run a read-only ``query``, retrying while a node that just died is still listed.

        Until the controller fences a killed node (6 s), metadata still names it and
        kafka-python may send a request there and fail with a connection error.
        """
        deadline = time.monotonic() + _TOPIC_TIMEOUT_S
        while True:
            try:
                with self.admin() as client:
                    return query(client)
            except _RETRIABLE:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def create_topics(
        self,
        names: list[str],
        partitions: int,
        compacted: Set[str] = frozenset(),
        *,
        replication_factor: int | None = None,
    ) -> None:
        """Create ``names`` and wait until every partition has a leader.

        Topics in ``compacted`` get ``cleanup.policy=compact`` (Faust changelogs).
        The replication factor defaults to 1 for a single broker, 3 for the cluster.
        """
        unknown = set(compacted) - set(names)
        if unknown:
            raise ValueError(f"compacted topics must be among names, got {sorted(unknown)}")
        rf = self.replication_factor if replication_factor is None else replication_factor
        spec = {
            name: {
                "num_partitions": partitions,
                "replication_factor": rf,
                "configs": {"cleanup.policy": "compact"} if name in compacted else {},
            }
            for name in names
        }
        with self.admin() as client:
            client.create_topics(spec, timeout_ms=int(_TOPIC_TIMEOUT_S * 1000))
        # Each broker learns of new topics from the metadata log on its own time: ask
        # every live node in turn (a client bootstrapped from one address asks that one).
        for address in self.admin_bootstrap().split(","):
            with self.admin(address) as client:
                client.wait_for_topics(names, timeout_ms=int(_TOPIC_TIMEOUT_S * 1000))

    def delete_topics(self, names: list[str]) -> None:
        """Delete ``names`` (missing ones are fine) and wait until metadata no longer lists them."""
        with self.admin() as client:
            existing = set(client.list_topics())
            doomed = [name for name in names if name in existing]
            if not doomed:
                return
            # Deleted concurrently by someone else: the wait below still confirms it.
            with suppress(UnknownTopicOrPartitionError):
                client.delete_topics(doomed, timeout_ms=int(_TOPIC_TIMEOUT_S * 1000))
            deadline = time.monotonic() + _TOPIC_TIMEOUT_S
            while set(doomed) & set(client.list_topics()):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topics {doomed} still listed after {_TOPIC_TIMEOUT_S}s")
                time.sleep(0.2)

    def describe_partitions(self, topic: str) -> list[PartitionInfo]:
        """Return the partitions of ``topic`` sorted by number (leader -1 means none).

        Retries (up to a minute) while the broker asked does not know the topic yet.
        """

        def query(client: KafkaAdminClient) -> list[dict[str, Any]]:
            (described,) = client.describe_topics([topic])
            if described["error_code"] != 0 or not described["partitions"]:
                raise _TopicNotReadyError(f"{topic}: {described}")
            partitions: list[dict[str, Any]] = described["partitions"]
            return partitions

        return sorted(
            (
                PartitionInfo(
                    partition=int(p["partition_index"]),
                    leader=int(p["leader_id"]),
                    replicas=tuple(int(r) for r in p["replica_nodes"]),
                    isr=tuple(int(r) for r in p["isr_nodes"]),
                )
                for p in self._read(query)
            ),
            key=lambda info: info.partition,
        )

    def list_topics(self) -> set[str]:
        """Return the names of all topics, internal ones included."""
        return {str(name) for name in self._read(lambda client: client.list_topics())}


@dataclass(frozen=True)
class KafkaBroker(_TopicAdmin):
    """One KRaft node (broker and controller) on 127.0.0.1, state and logs in ``dir``."""

    port: int
    controller_port: int
    dir: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def replication_factor(self) -> int:
        return 1

    @property
    def log_path(self) -> Path:
        return self.dir / "broker.log"

    def _opts(self) -> list[str]:
        return [
            "--port",
            str(self.port),
            "--controller-port",
            str(self.controller_port),
            "--dir",
            str(self.dir),
        ]

    def start(self) -> None:
        """Start the node (a no-op if it already runs) and wait until it answers."""
        run_kafka_sh(["start", *self._opts()], timeout_s=_START_TIMEOUT_S)

    def stop(self) -> None:
        """Stop the node; fine if it is not running."""
        run_kafka_sh(["stop", *self._opts()], timeout_s=_STOP_TIMEOUT_S)

    def status(self) -> subprocess.CompletedProcess[str]:
        """Return ``kafka.sh status``: exit code 0 if running, 3 if stopped."""
        return run_kafka_sh(["status", *self._opts()], timeout_s=30, allowed=(_RUNNING, _STOPPED))

    def is_running(self) -> bool:
        return self.status().returncode == _RUNNING

    def pid(self) -> int | None:
        """Return the broker's pid from its pid file, or None if there is none."""
        try:
            return int((self.dir / "broker.pid").read_text().strip())
        except FileNotFoundError:
            return None


def ensure_single_broker(port: int, dir: Path) -> KafkaBroker:
    """Start (or reuse) a single node: clients on ``port``, its controller on ``port + 1``."""
    broker = KafkaBroker(port=port, controller_port=port + 1, dir=dir)
    broker.start()
    return broker


@dataclass(frozen=True)
class KafkaCluster(_TopicAdmin):
    """Three KRaft nodes on one machine; node ``n`` listens on ``base_port + n - 1``."""

    base_port: int
    dir: Path
    size: int = 3

    @property
    def ports(self) -> list[int]:
        return [self.base_port + n for n in range(self.size)]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    @property
    def replication_factor(self) -> int:
        return self.size

    def node_dir(self, n: int) -> Path:
        return self.dir / f"node-{n}"

    def node_alive(self, n: int) -> bool:
        """True if node ``n``'s pid file names a live process (kafka.sh removes it on stop)."""
        try:
            pid = int((self.node_dir(n) / "broker.pid").read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False
        return True

    def admin_bootstrap(self) -> str:
        """Bootstrap the admin client from live nodes only: kafka-python does not skip dead ones."""
        live = [port for n, port in enumerate(self.ports, start=1) if self.node_alive(n)]
        return ",".join(f"127.0.0.1:{port}" for port in live) or self.bootstrap

    def _opts(self) -> list[str]:
        return ["--base-port", str(self.base_port), "--dir", str(self.dir)]

    def start(self) -> None:
        """Start the nodes that are not running and wait until all of them answer."""
        run_kafka_sh(["cluster-start", *self._opts()], timeout_s=_START_TIMEOUT_S)

    def stop(self) -> None:
        """Stop all nodes; fine if some or all are not running."""
        run_kafka_sh(["cluster-stop", *self._opts()], timeout_s=_STOP_TIMEOUT_S)

    def kill(self, n: int) -> None:
        """``kill -9`` node ``n`` (1-based), as a crash for failover tests."""
        if not 1 <= n <= self.size:
            raise ValueError(f"node must be in 1..{self.size}, got {n}")
        run_kafka_sh(["cluster-kill", str(n), *self._opts()], timeout_s=30)

    def status(self) -> subprocess.CompletedProcess[str]:
        """Return ``kafka.sh cluster-status``: exit code 0 if all nodes run, 3 otherwise."""
        return run_kafka_sh(
            ["cluster-status", *self._opts()], timeout_s=30, allowed=(_RUNNING, _STOPPED)
        )
