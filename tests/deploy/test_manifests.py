"""deploy/compose and deploy/k8s: the files parse and validate with the real tools,
and hang together (ports, probes, volumes, secrets, settings the engine accepts).

docker-compose (Debian 1.29) validates the compose file without a Docker engine;
kubernetes-validate checks the manifests offline against Kubernetes' schemas
(strict: unknown fields are errors). Both come from ``deploy/ops.sh install``.
Without them these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import load_settings
from tests.deploy.test_prometheus import (
    PENDING_METRICS,
    TOKEN_PATH_IN_CONFIG,
    declared_metric_names,
    free_port,
    promtool,
    require_module,
    require_tool,
)

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
DASHBOARD = COMPOSE_DIR / "grafana" / "dashboards" / "vigil.json"
DATASOURCE = COMPOSE_DIR / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
K8S_DIR = REPO / "deploy" / "k8s"
#: The Kubernetes version the manifests are validated against (schemas bundled
#: with kubernetes-validate, pinned in deploy/ops.sh).
K8S_VERSION = "1.33.0"
NAMESPACE = "vigil"
WORKERS = ("worker-1", "worker-2", "worker-3")
BROKERS = ("kafka-1", "kafka-2", "kafka-3")
API_PORT = 6066
ALL_INTERFACES = "0.0.0.0"  # noqa: S104  # what the deployments bind, on purpose
TOOL_TIMEOUT_S = 120


def yaml_module() -> Any:
    require_module("yaml")
    import yaml

    return yaml


def config_env_names() -> str:
    """The source text of config/, where every VIGIL_* variable the engine reads is named."""
    return "\n".join(p.read_text() for p in sorted((REPO / "config").glob("*.py")))


def clean_env() -> dict[str, str]:
    """This process's environment without variables that compose would interpolate."""
    prefixes = ("VIGIL_", "GRAFANA_", "KAFKA_", "COMPOSE_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def docker_compose(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = require_tool("docker-compose")
    return subprocess.run(
        [exe, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        env=clean_env(),
        cwd=REPO,
        check=False,
    )


# ----- docker-compose --------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as docker-compose resolves it with .env.example."""
    result = docker_compose("-f", COMPOSE_FILE, "--env-file", ENV_EXAMPLE, "config")
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    doc: dict[str, Any] = yaml_module().safe_load(result.stdout)
    return doc


def test_compose_config_parses(compose: dict[str, Any]) -> None:
    expected = {*BROKERS, "topics", *WORKERS, "chain-watcher", "prometheus", "grafana"}
    assert set(compose["services"]) == expected


def test_compose_needs_the_secrets_from_the_env_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = docker_compose("-f", COMPOSE_FILE, "--env-file", empty, "config")
    assert result.returncode != 0
    assert "set VIGIL_" in result.stderr and "deploy/compose/.env" in result.stderr


def test_docker_compose_catches_a_broken_file(tmp_path: Path) -> None:
    """The check above can fail: a misspelt option and a wrong type are rejected."""
    text = COMPOSE_FILE.read_text()
    for good, bad in [
        ("    restart: unless-stopped\n    # Prometheus", "    restrat: unless-stopped\n    #"),
        ('ports: ["127.0.0.1:3000:3000"]', "ports: 3000"),
    ]:
        assert good in text
        broken = tmp_path / "docker-compose.yml"
        broken.write_text(text.replace(good, bad, 1))
        result = docker_compose(
            "-f", broken, "--project-directory", COMPOSE_DIR, "--env-file", ENV_EXAMPLE, "config"
        )
        assert result.returncode != 0, f"docker-compose accepted {bad!r}"


def test_compose_kafka_is_a_three_node_kraft_cluster(compose: dict[str, Any]) -> None:
    services = compose["services"]
    envs = [services[b]["environment"] for b in BROKERS]
    assert all(services[b]["image"] == "apache/kafka:3.9.1" for b in BROKERS)
    assert sorted(str(e["KAFKA_NODE_ID"]) for e in envs) == ["1", "2", "3"]
    assert len({e["CLUSTER_ID"] for e in envs}) == 1
    for broker, env in zip(BROKERS, envs, strict=True):
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert sorted(v.split("@")[1].split(":")[0] for v in voters) == list(BROKERS)
        for key in (
            "DEFAULT_REPLICATION_FACTOR",
            "OFFSETS_TOPIC_REPLICATION_FACTOR",
            "TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        ):
            assert str(env[f"KAFKA_{key}"]) == "3", key
        assert str(env["KAFKA_MIN_INSYNC_REPLICAS"]) == "2"
        assert str(env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) == "2"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert f"PLAINTEXT://{broker}:19092" in env["KAFKA_ADVERTISED_LISTENERS"]
        mounts = [v.split(":")[1] for v in services[broker]["volumes"]]
        assert env["KAFKA_LOG_DIRS"] in mounts, f"{broker}: log dir is not on a volume"


def worker_settings_env(env: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in env.items()}


def test_compose_workers_get_settings_the_engine_accepts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    known = config_env_names()
    brokers = {f"{b}:19092" for b in BROKERS}
    volumes = set()
    for name in WORKERS:
        svc = services[name]
        assert svc["command"] == ["worker"]
        env = worker_settings_env(svc["environment"])
        unknown = [k for k in env if k.startswith("VIGIL_") and k not in known]
        assert not unknown, f"{name}: config/ reads no {unknown}"
        settings = load_settings(env)  # raises ConfigError on a bad combination
        assert settings.api.host == ALL_INTERFACES and settings.api.port == API_PORT
        assert "CHANGE-ME-metrics-token" in settings.api.tokens
        assert settings.kafka.replication_factor == 3
        assert set(settings.kafka.bootstrap.split(",")) == brokers
        assert env["VIGIL_CANONICAL_URL"] == f"http://{name}:{API_PORT}"
        data_mounts = [
            v for v in svc["volumes"] if v.split(":")[1] == str(settings.engine.data_dir)
        ]
        assert len(data_mounts) == 1, f"{name}: VIGIL_DATA_DIR is not on a volume"
        volumes.add(data_mounts[0].split(":")[0])
        assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert any(p.startswith("127.0.0.1:") for p in svc["ports"])
    assert len(volumes) == len(WORKERS), "each worker needs its own RocksDB volume"
    assert services["topics"]["command"] == ["topics"]
    assert str(services["topics"]["environment"]["VIGIL_REPLICATION_FACTOR"]) == "3"


def test_compose_publishes_ports_on_loopback_only(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            spec = port if isinstance(port, str) else f"{port.get('host_ip')}:{port['published']}"
            assert spec.startswith("127.0.0.1:"), f"{name} publishes {spec} beyond loopback"


def test_compose_chain_watcher_keeps_the_rpc_url_out_of_the_file(
    compose: dict[str, Any],
) -> None:
    svc = compose["services"]["chain-watcher"]
    command = " ".join(svc["command"])
    assert "vigil chain watch" in command and "--rpc" in command
    assert "--checkpoint /var/lib/vigil-chain/" in command
    assert any(v.endswith(":/var/lib/vigil-chain:rw") for v in svc["volumes"])
    assert "https://" not in COMPOSE_FILE.read_text()


def test_compose_prometheus_scrapes_the_workers_with_its_token(compose: dict[str, Any]) -> None:
    yaml = yaml_module()
    svc = compose["services"]["prometheus"]
    mounts = {v.split(":")[1]: Path(v.split(":")[0]) for v in svc["volumes"]}
    config_path = mounts["/etc/prometheus/prometheus.yml"]
    assert config_path == REPO / "deploy" / "prometheus" / "prometheus.yml"
    assert mounts["/etc/prometheus/rules.yml"] == REPO / "deploy" / "prometheus" / "rules.yml"
    config = yaml.safe_load(config_path.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "vigil"]
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert sorted(targets) == [f"{w}:{API_PORT}" for w in WORKERS]
    token_file = job["authorization"]["credentials_file"]
    assert token_file == TOKEN_PATH_IN_CONFIG
    command = " ".join(svc["command"])
    assert f'"$$VIGIL_METRICS_TOKEN" > {token_file}' in command
    assert any(t.startswith(str(Path(token_file).parent) + ":") for t in svc["tmpfs"])
    assert "--config.file=/etc/prometheus/prometheus.yml" in command


def test_compose_healthcheck_and_dockerfile_build_the_project(compose: dict[str, Any]) -> None:
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "\nFROM python:3.11-slim\n" in dockerfile
    assert "-c requirements.lock" in dockerfile
    pyproject = (REPO / "pyproject.toml").read_text()
    packages = re.search(r"include = \[([^\]]*)\]", pyproject)
    assert packages is not None
    ignore = (COMPOSE_DIR / "Dockerfile.dockerignore").read_text()
    for pattern in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert f"\nCOPY {pattern} ./{pattern}\n" in dockerfile, f"the image lacks {pattern}/"
        assert f"\n!{pattern}/\n" in ignore, f"{pattern}/ is not in the build context"
    for name in WORKERS:
        build = compose["services"][name]["build"]
        assert Path(build["context"]) == REPO
        assert build["dockerfile"] == "deploy/compose/Dockerfile"


# ----- Grafana ---------------------------------------------------------------------------


def dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


def test_grafana_dashboard_uses_the_provisioned_datasource() -> None:
    yaml = yaml_module()
    (source,) = yaml.safe_load(DATASOURCE.read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090"
    doc = json.loads(DASHBOARD.read_text())
    uids = {p["datasource"]["uid"] for p in doc["panels"]}
    uids |= {t["datasource"]["uid"] for p in doc["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}
    titles = " ".join(p["title"].lower() for p in doc["panels"])
    for topic in ("score", "band", "events/s", "dead letters", "lag", "alerts"):
        assert topic in titles, f"no panel on {topic}"


def test_grafana_queries_are_valid_promql_on_declared_metrics(tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    declared = declared_metric_names()
    used = {m for e in exprs for m in re.findall(r"\b(vigil_[a-z0-9_]+)\b", e)}
    unknown = sorted(used - declared - PENDING_METRICS)
    assert not unknown, f"the dashboard queries metrics nobody declares: {unknown}"
    # promtool parses PromQL inside rule files: check each query as a recording rule,
    # with Grafana's interval variables replaced by a duration.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": e.replace("$__rate_interval", "1m")}
                    for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(json.dumps(rules))
    result = promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "$" not in "".join(r["expr"] for r in rules["groups"][0]["rules"])


# ----- Kubernetes ------------------------------------------------------------------------


def kubernetes_validate() -> Any:
    require_module("kubernetes_validate")
    import kubernetes_validate

    return kubernetes_validate


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    yaml = yaml_module()
    docs = []
    for path in manifest_files():
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d is not None)
    return docs


def find(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def test_every_manifest_validates_against_the_kubernetes_schema() -> None:
    kv = kubernetes_validate()
    yaml = yaml_module()
    checked = 0
    for path in manifest_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:
                continue
            where = f"{path.name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            try:
                kv.validate(doc, K8S_VERSION, strict=True)
            except kv.ValidationError as exc:
                pytest.fail(f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}")
            except kv.SchemaNotFoundError as exc:  # an unknown kind or apiVersion
                pytest.fail(f"{where}: {exc.message}")
            checked += 1
    assert checked >= 9


def test_kubernetes_validate_catches_broken_manifests(manifests: list[dict[str, Any]]) -> None:
    """The check above can fail: a misspelt field, a wrong type, an unknown apiVersion."""
    import copy

    kv = kubernetes_validate()
    sts = find(manifests, "StatefulSet", "vigil-worker")
    misspelt = copy.deepcopy(sts)
    container = misspelt["spec"]["template"]["spec"]["containers"][0]
    container["livenesProbe"] = container.pop("livenessProbe")
    wrong_type = copy.deepcopy(sts)
    wrong_type["spec"]["replicas"] = "three"
    with pytest.raises(kv.ValidationError):
        kv.validate(misspelt, K8S_VERSION, strict=True)
    with pytest.raises(kv.ValidationError):
        kv.validate(wrong_type, K8S_VERSION, strict=True)
    with pytest.raises(kv.SchemaNotFoundError):
        kv.validate({**sts, "apiVersion": "apps/v2"}, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    yaml = yaml_module()
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == NAMESPACE
    assert sorted(kustomization["resources"]) == [p.name for p in manifest_files()]


def test_every_resource_lives_in_the_vigil_namespace(manifests: list[dict[str, Any]]) -> None:
    find(manifests, "Namespace", NAMESPACE)
    for m in manifests:
        if m["kind"] != "Namespace":
            assert m["metadata"].get("namespace") == NAMESPACE, m["metadata"]["name"]


def container_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (found,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return int(found)


def worker_container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    sts = find(manifests, "StatefulSet", "vigil-worker")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    return container


def test_worker_statefulset_has_rocksdb_volumes_and_probes(manifests: list[dict[str, Any]]) -> None:
    sts = find(manifests, "StatefulSet", "vigil-worker")
    config = find(manifests, "ConfigMap", "vigil-config")["data"]
    spec = sts["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    claims = [c["metadata"]["name"] for c in spec["volumeClaimTemplates"]]
    assert claims, "no volumeClaimTemplates: RocksDB would live on the node's disk"
    container = worker_container(manifests)
    assert container["args"] == ["worker"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts.get(config["VIGIL_DATA_DIR"]) in claims, "VIGIL_DATA_DIR is not on a claim"

    for probe in ("startupProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz", probe
        assert container_port(container, get["port"]) == API_PORT, probe
    readiness = container["readinessProbe"]
    if "httpGet" in readiness:  # if /readyz ever needs no token
        assert readiness["httpGet"]["path"] == "/readyz"
        assert container_port(container, readiness["httpGet"]["port"]) == API_PORT
    else:
        assert f"http://127.0.0.1:{API_PORT}/readyz" in " ".join(readiness["exec"]["command"])
    assert container_port(container, "http") == API_PORT == int(config["VIGIL_WEB_PORT"])

    headless = find(manifests, "Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"].items() <= pod_labels.items()


def test_api_service_reaches_the_workers(manifests: list[dict[str, Any]]) -> None:
    service = find(manifests, "Service", "vigil-api")
    sts = find(manifests, "StatefulSet", "vigil-worker")
    assert (
        service["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    )
    container = worker_container(manifests)
    (port,) = service["spec"]["ports"]
    assert container_port(container, port["targetPort"]) == API_PORT


def container_env(
    manifests: list[dict[str, Any]], container: dict[str, Any], pod_name: str
) -> dict[str, str]:
    """The environment Kubernetes gives `container`, resolved like the kubelet does."""
    config = find(manifests, "ConfigMap", "vigil-config")["data"]
    secret = find(manifests, "Secret", "vigil-secrets")["stringData"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == "vigil-config"
        env.update(config)
    for var in container.get("env", []):
        if "value" in var:
            refs = re.findall(r"\$\((\w+)\)", var["value"])
            undefined = [r for r in refs if r not in env]
            assert not undefined, f"{var['name']} refers to {undefined}, not defined before it"
            env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], var["value"])
            continue
        ref = var["valueFrom"]
        if "secretKeyRef" in ref:
            assert ref["secretKeyRef"]["name"] == "vigil-secrets"
            env[var["name"]] = secret[ref["secretKeyRef"]["key"]]
        elif "configMapKeyRef" in ref:
            assert ref["configMapKeyRef"]["name"] == "vigil-config"
            env[var["name"]] = config[ref["configMapKeyRef"]["key"]]
        else:
            assert ref["fieldRef"]["fieldPath"] == "metadata.name"
            env[var["name"]] = pod_name
    return env


def test_worker_gets_settings_the_engine_accepts(manifests: list[dict[str, Any]]) -> None:
    env = container_env(manifests, worker_container(manifests), "vigil-worker-0")
    known = config_env_names()
    unknown = sorted(k for k in env if k.startswith("VIGIL_") and k not in known)
    # From the shared ConfigMap, for the chain watcher's command line.
    assert unknown == ["VIGIL_CHAIN_CONFIRMATIONS", "VIGIL_CHAIN_TOKENS"], unknown
    settings = load_settings(env)  # raises ConfigError on a bad combination
    assert settings.api.host == ALL_INTERFACES and settings.api.port == API_PORT
    assert env["SECRET_METRICS_TOKEN"] in settings.api.tokens
    assert env["VIGIL_CANONICAL_URL"] == (
        f"http://vigil-worker-0.vigil-worker.{NAMESPACE}.svc.cluster.local:{API_PORT}"
    )


def test_secret_holds_placeholders_only(manifests: list[dict[str, Any]]) -> None:
    secret = find(manifests, "Secret", "vigil-secrets")
    assert "data" not in secret
    assert set(secret["stringData"]) == {"api-tokens", "metrics-token", "chain-rpc-url"}
    for key, value in secret["stringData"].items():
        assert "CHANGE-ME" in value, f"{key} looks like a real secret"


def test_chain_watcher_deployment(manifests: list[dict[str, Any]]) -> None:
    deployment = find(manifests, "Deployment", "vigil-chain-watcher")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    (container,) = spec["template"]["spec"]["containers"]
    env = container_env(manifests, container, "vigil-chain-watcher-x")
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in container["args"]]
    assert args[:2] == ["chain", "watch"]
    options = dict(zip(args[2::2], args[3::2], strict=True))
    assert options["--rpc"] == "https://CHANGE-ME.invalid/rpc"
    assert "$(" not in " ".join(args)
    checkpoint = Path(options["--checkpoint"])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    claim = volumes[mounts[str(checkpoint.parent)]]["persistentVolumeClaim"]["claimName"]
    find(manifests, "PersistentVolumeClaim", claim)


# ----- the probe commands run ------------------------------------------------------------


class _FakeEngine(http.server.BaseHTTPRequestHandler):
    """/healthz and /readyz as the engine answers them, with tokens configured."""

    token = "probe-token-123"
    ready = True

    def do_GET(self) -> None:  # noqa: N802  # http.server's name
        if self.path == "/healthz":
            status = 200
        elif self.path != "/readyz":
            status = 404
        elif self.headers.get("Authorization") != f"Bearer {self.token}":
            status = 401
        else:
            status = 200 if self.ready else 503
        self.send_response(status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_engine() -> Iterator[tuple[int, type[_FakeEngine]]]:
    handler = type("Handler", (_FakeEngine,), {"ready": True})
    server = http.server.HTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_port, handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def run_probe(command: list[str], port: int, env: dict[str, str]) -> int:
    assert command[0] == "python"
    argv = [sys.executable, *(c.replace(f":{API_PORT}/", f":{port}/") for c in command[1:])]
    return subprocess.run(argv, env=env, capture_output=True, timeout=30, check=False).returncode


def test_k8s_readiness_probe_sends_the_token_and_fails_when_not_ready(
    manifests: list[dict[str, Any]], fake_engine: tuple[int, type[_FakeEngine]]
) -> None:
    port, handler = fake_engine
    command = worker_container(manifests)["readinessProbe"]["exec"]["command"]
    env = {"SECRET_METRICS_TOKEN": handler.token, "PATH": os.environ.get("PATH", "")}
    assert run_probe(command, port, env) == 0
    assert run_probe(command, port, {**env, "SECRET_METRICS_TOKEN": "wrong-token"}) != 0
    handler.ready = False
    assert run_probe(command, port, env) != 0


def test_compose_healthcheck_runs(
    compose: dict[str, Any], fake_engine: tuple[int, type[_FakeEngine]]
) -> None:
    port, _ = fake_engine
    test = compose["services"]["worker-1"]["healthcheck"]["test"]
    assert test[0] == "CMD" and f"http://127.0.0.1:{API_PORT}/healthz" in " ".join(test)
    assert run_probe(test[1:], port, {"PATH": os.environ.get("PATH", "")}) == 0
    bad = [c.replace("/healthz", "/nothing-here") for c in test[1:]]
    assert run_probe(bad, port, {"PATH": os.environ.get("PATH", "")}) != 0
