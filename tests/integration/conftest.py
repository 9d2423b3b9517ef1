"""Fixtures for tests against a real Kafka broker and real engine processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

REPO = Path(__file__).resolve().parents[2]
VIGIL = str(Path(sys.executable).with_name("vigil"))


@dataclass
class Stack:
    """One isolated Vigil deployment on the shared broker: own topic prefix and app id."""

    bootstrap: str
    workdir: Path
    partitions: int = 8
    prefix: str = field(default_factory=lambda: f"it{uuid.uuid4().hex[:8]}.")
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    env_extra: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "VIGIL_KAFKA_BOOTSTRAP": self.bootstrap,
                "VIGIL_TOPIC_PREFIX": self.prefix,
                "VIGIL_APP_ID": f"{self.prefix}engine",
                "VIGIL_PARTITIONS": str(self.partitions),
                "VIGIL_LOG_LEVEL": "INFO",
            }
        )
        env.update(self.env_extra)
        env.update(extra)
        return env

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def vigil(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [VIGIL, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            cwd=self.workdir,
        )

    def create_topics(self) -> None:
        self.vigil("topics")

    def produce(self, messages: list[tuple[str, bytes | None, bytes]]) -> None:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        try:
            sent = [
                producer.send(self.topic(topic), key=key, value=value)
                for topic, key, value in messages
            ]
            producer.flush(timeout=60)
            for future in sent:  # flush() does not raise what the broker refused
                future.get(timeout=60)
        finally:
            producer.close()

    def start_engine(self, name: str, port: int) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [VIGIL, "worker"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self.env(VIGIL_WEB_PORT=str(port), VIGIL_DATA_DIR=str(self.workdir / name)),
            )
        self.procs.append(proc)
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, self.workdir / f"{name}.log")
        return proc

    def stop(self, proc: subprocess.Popen[bytes], kill: bool = False) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def read_all(
        self, topic: str, timeout_s: float = 5.0
    ) -> list[tuple[bytes | None, bytes, int, int]]:
        """Every message of a topic from the beginning to its current end."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            consumer_timeout_ms=int(timeout_s * 1000),
        )
        try:
            tps = [
                TopicPartition(self.topic(topic), p)
                for p in consumer.partitions_for_topic(self.topic(topic)) or []
            ]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            end = consumer.end_offsets(tps)
            out = []
            remaining = {tp for tp in tps if end[tp] > 0}
            deadline = time.monotonic() + timeout_s + 30
            while remaining and time.monotonic() < deadline:
                for tp, msgs in consumer.poll(timeout_ms=500).items():
                    for m in msgs:
                        out.append((m.key, m.value, m.partition, m.offset))
                        if m.offset + 1 >= end[tp]:
                            remaining.discard(tp)
            return out
        finally:
            consumer.close()

    def latest_scores(self) -> dict[str, dict[str, object]]:
        latest: dict[str, dict[str, object]] = {}
        for key, value, _, _ in sorted(self.read_all("scores"), key=lambda m: (m[2], m[3])):
            assert key is not None
            latest[key.decode()] = orjson.loads(value)
        return latest


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"engine exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL built here
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout_s}s:\n{log.read_text()[-3000:]}")


def http(
    method: str, url: str, body: object | None = None, token: str | None = None
) -> tuple[int, object]:
    data = None if body is None else orjson.dumps(body)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(  # noqa: S310 - loopback URL built by the test
        url,
        data=data,
        method=method,  # noqa: S310 - loopback
        headers=headers,
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return status, raw.decode()


@pytest.fixture
def stack(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(kafka_bootstrap, tmp_path)
    try:
        yield s
    finally:
        for proc in s.procs:
            s.stop(proc)


def wait_until(
    check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 1.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
