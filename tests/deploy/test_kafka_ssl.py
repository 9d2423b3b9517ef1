"""Vigil against a real broker that only speaks TLS: Kafka security settings reach every client.

The test makes its own CA with ``openssl``, the broker's keystore and truststore
with ``keytool`` (tests/helpers/tls.py), and starts one KRaft node from the Maven
jars of ``deploy/kafka/kafka.sh`` with two client listeners on loopback:

- ``SSL`` on 29592 with client certificates required (mutual TLS),
- ``SASL_SSL`` on 29593 with ``PLAIN`` and ``SCRAM-SHA-256`` users,

and its controller on 29594. There is no plaintext listener. Each profile then
runs the real commands: ``vigil topics`` (kafka-python admin), ``vigil simulate
--kafka`` (kafka-python producer), ``vigil worker`` (Faust consumer and producers,
the aiokafka alert and score logs) until a trust record appears on
``{prefix}scores``, read back over TLS; ``vigil sanctions load`` (kafka-python
consumer, admin and producer) over SASL PLAIN. Clients without TLS, without a
client certificate or with a wrong password are refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from config.settings import KafkaConfig, load_settings
from tests.helpers.kafka import REPO_ROOT, run_kafka_sh
from tests.helpers.tls import JavaStores, Pki, make_java_stores, make_pki

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="(read|open)_text is deprecated")
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SSL_PORT = 29592
SASL_SSL_PORT = 29593
CONTROLLER_PORT = 29594
WEB_PORT = 16121
VIGIL = str(Path(sys.executable).with_name("vigil"))
SASL_USER, SASL_PASSWORD = "vigil", "vigil-secret"
SCRAM_USER, SCRAM_PASSWORD = "vigil-scram", "scram-secret"


@dataclass(frozen=True)
class SecureBroker:
    pki: Pki
    dir: Path

    def env(self, profile: str) -> dict[str, str]:
        """The ``VIGIL_KAFKA_*`` variables of a client profile."""
        if profile == "ssl":
            return {
                "VIGIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{SSL_PORT}",
                "VIGIL_KAFKA_SECURITY_PROTOCOL": "SSL",
                "VIGIL_KAFKA_SSL_CAFILE": str(self.pki.ca_cert),
                "VIGIL_KAFKA_SSL_CERTFILE": str(self.pki.client_cert),
                "VIGIL_KAFKA_SSL_KEYFILE": str(self.pki.client_key),
            }
        user, password, mechanism = {
            "sasl-plain": (SASL_USER, SASL_PASSWORD, "PLAIN"),
            "sasl-scram": (SCRAM_USER, SCRAM_PASSWORD, "SCRAM-SHA-256"),
        }[profile]
        return {
            "VIGIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{SASL_SSL_PORT}",
            "VIGIL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "VIGIL_KAFKA_SSL_CAFILE": str(self.pki.ca_cert),
            "VIGIL_KAFKA_SASL_MECHANISM": mechanism,
            "VIGIL_KAFKA_SASL_USERNAME": user,
            "VIGIL_KAFKA_SASL_PASSWORD": password,
        }

    def kafka(self, profile: str) -> KafkaConfig:
        return load_settings(self.env(profile)).kafka


def _properties(d: Path, stores: JavaStores) -> str:
    plain = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'user_{SASL_USER}="{SASL_PASSWORD}";'
    )
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return f"""
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{CONTROLLER_PORT}
listeners=SSL://127.0.0.1:{SSL_PORT},SASL_SSL://127.0.0.1:{SASL_SSL_PORT},CONTROLLER://127.0.0.1:{CONTROLLER_PORT}
advertised.listeners=SSL://127.0.0.1:{SSL_PORT},SASL_SSL://127.0.0.1:{SASL_SSL_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
log.dirs={d / "data"}
ssl.keystore.type=PKCS12
ssl.keystore.location={stores.keystore}
ssl.keystore.password={stores.password}
ssl.key.password={stores.password}
ssl.truststore.type=PKCS12
ssl.truststore.location={stores.truststore}
ssl.truststore.password={stores.password}
listener.name.ssl.ssl.client.auth=required
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256
listener.name.sasl_ssl.plain.sasl.jaas.config={plain}
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={scram}
num.network.threads=2
num.io.threads=2
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
"""


def _kafka_libs() -> Path:
    out = run_kafka_sh(["install"], timeout_s=600).stdout
    # "Kafka 3.9.1 jars [already ]in <dir>"
    found = re.search(r"jars (?:already )?in (\S+)\s*$", out)
    if found is None or not Path(found[1]).is_dir():
        raise AssertionError(f"kafka.sh install named no jar directory:\n{out}")
    return Path(found[1])


def _admin(kafka: KafkaConfig, **extra: Any) -> KafkaAdminClient:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unclosed <socket", category=ResourceWarning)
        return KafkaAdminClient(client_id="vigil-ssl-test", **kafka.client_options(), **extra)


def _wait_ready(broker: SecureBroker, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"broker exited: {(broker.dir / 'broker.log').read_text()[-3000:]}"
            )
        try:
            admin = _admin(broker.kafka("ssl"), request_timeout_ms=5000)
        except KafkaError as exc:
            last = exc
            time.sleep(1.0)
            continue
        admin.list_topics()
        admin.close()
        return
    log = (broker.dir / "broker.log").read_text()[-3000:]
    raise AssertionError(f"TLS broker not ready in {timeout_s}s ({last!r}):\n{log}")


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    d = tmp_path_factory.mktemp("kafka-ssl")
    pki = make_pki(d / "pki")
    stores = make_java_stores(pki)
    libs = _kafka_libs()
    props = d / "server.properties"
    props.write_text(_properties(d, stores))
    (d / "log4j.properties").write_text(
        "log4j.rootLogger=INFO, stdout\n"
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
    )
    java = ["java", f"-Dlog4j.configuration=file:{d / 'log4j.properties'}", "-cp", f"{libs}/*"]
    cluster_id = subprocess.run(
        [*java, "kafka.tools.StorageTool", "random-uuid"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()[-1]
    subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
         "--add-scram", f"SCRAM-SHA-256=[name={SCRAM_USER},password={SCRAM_PASSWORD}]"],
        capture_output=True,
        check=True,
        timeout=120,
    )  # fmt: skip
    with (d / "broker.log").open("ab") as log:
        proc = subprocess.Popen(
            [*java[:1], "-Xms128m", "-Xmx512m", *java[1:], "kafka.Kafka", str(props)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    broker = SecureBroker(pki, d)
    try:
        _wait_ready(broker, proc, timeout_s=120)
        yield broker
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _vigil(
    env: dict[str, str], *args: str, cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VIGIL, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def _read_scores(kafka: KafkaConfig, topic: str) -> list[dict[str, Any]]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unclosed <socket", category=ResourceWarning)
        consumer = KafkaConsumer(
            **kafka.client_options(), enable_auto_commit=False, consumer_timeout_ms=2000
        )
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records = []
        for _ in range(3):
            for msgs in consumer.poll(timeout_ms=1000).values():
                records.extend(orjson.loads(m.value) for m in msgs)
        return records
    finally:
        consumer.close()


def test_clients_without_tls_a_certificate_or_the_password_are_refused(
    secure_broker: SecureBroker,
) -> None:
    quick = {"request_timeout_ms": 3000, "api_version_auto_timeout_ms": 3000}
    refused = {
        "plaintext client on the TLS port": KafkaConfig(bootstrap=f"127.0.0.1:{SSL_PORT}"),
        "TLS client without a client certificate": KafkaConfig(
            bootstrap=f"127.0.0.1:{SSL_PORT}",
            security_protocol="SSL",
            ssl_cafile=secure_broker.pki.ca_cert,
        ),
        "TLS client that does not trust the broker's CA": KafkaConfig(
            bootstrap=f"127.0.0.1:{SSL_PORT}",
            security_protocol="SSL",
            ssl_cafile=secure_broker.pki.client_cert,  # not a CA of the broker's chain
            ssl_certfile=secure_broker.pki.client_cert,
            ssl_keyfile=secure_broker.pki.client_key,
        ),
        "SASL with a wrong password": KafkaConfig(
            bootstrap=f"127.0.0.1:{SASL_SSL_PORT}",
            security_protocol="SASL_SSL",
            ssl_cafile=secure_broker.pki.ca_cert,
            sasl_username=SASL_USER,
            sasl_password="wrong",
        ),
    }
    for what, kafka in refused.items():
        with pytest.raises(KafkaError):  # noqa: PT012 - the client fails on connect or on use
            admin = _admin(kafka, **quick)
            try:
                admin.list_topics()
            finally:
                admin.close()
            raise AssertionError(f"{what}: the broker answered")
    # The same broker answers each profile.
    for profile in ("ssl", "sasl-plain", "sasl-scram"):
        admin = _admin(secure_broker.kafka(profile))
        try:
            assert isinstance(admin.list_topics(), list)
        finally:
            admin.close()


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL built here
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout_s}s:\n{log.read_text()[-4000:]}")


@pytest.mark.parametrize("profile", ["ssl", "sasl-scram"])
def test_vigil_runs_end_to_end_over_tls(
    secure_broker: SecureBroker, tmp_path: Path, profile: str
) -> None:
    prefix = f"tls{uuid.uuid4().hex[:6]}."
    env = {
        **secure_broker.env(profile),
        "VIGIL_TOPIC_PREFIX": prefix,
        "VIGIL_APP_ID": f"{prefix}engine",
        "VIGIL_PARTITIONS": "2",
        "VIGIL_DATA_DIR": str(tmp_path / "engine"),
        "VIGIL_WEB_PORT": str(WEB_PORT),
    }
    bootstrap = env["VIGIL_KAFKA_BOOTSTRAP"]

    topics = _vigil(env, "topics", cwd=tmp_path, timeout=120)
    assert topics.returncode == 0, topics.stderr
    assert f"{prefix}tasks" in topics.stdout and f"{prefix}scores" in topics.stdout

    simulate = _vigil(
        env, "simulate", "--seed", "7", "--workers", "4", "--days", "2", "--kafka", "--quiet",
        "--bootstrap", bootstrap, "--topic-prefix", prefix,
        cwd=tmp_path,
    )  # fmt: skip
    assert simulate.returncode == 0, simulate.stderr

    log_path = tmp_path / "worker.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [VIGIL, "worker"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        _wait_http(f"http://127.0.0.1:{WEB_PORT}/healthz", proc, log_path, timeout_s=120)
        kafka = secure_broker.kafka(profile)
        deadline = time.monotonic() + 120
        scores: list[dict[str, Any]] = []
        while not scores and time.monotonic() < deadline:
            scores = _read_scores(kafka, f"{prefix}scores")
        assert scores, f"no trust record on {prefix}scores:\n{log_path.read_text()[-4000:]}"
        assert {"worker_id", "score", "band"} <= set(scores[0])
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log_path.read_text()
    assert f"Kafka {bootstrap} ({env['VIGIL_KAFKA_SECURITY_PROTOCOL']})" in text
    assert "cannot reach Kafka" not in text  # the alert log's aiokafka consumer connected

    # vigil sanctions load over SASL PLAIN: a fresh topic is created (kafka-python admin) and
    # filled (producer); a second load reads it back (consumer) and publishes nothing.
    plain = secure_broker.env("sasl-plain")
    load_args = (
        "sanctions", "load", str(REPO_ROOT / "chain/data/ofac_sdn_evm_addresses.csv"),
        "--bootstrap", plain["VIGIL_KAFKA_BOOTSTRAP"], "--topic-prefix", f"{prefix}list.",
    )  # fmt: skip
    first = _vigil(plain, *load_args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "published 0 " not in first.stdout and f"to {prefix}list.sanctions" in first.stdout
    again = _vigil(plain, *load_args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "published 0 messages" in again.stdout, again.stdout
