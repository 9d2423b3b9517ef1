"""The OpenAPI description (``GET /openapi.json``) against a running ``vigil worker``.

A small simulated platform goes through a real broker into one engine with API
tokens configured; the description must load and validate as OpenAPI, and
schemathesis' checks (documented status codes and content types, response
bodies that match their schemas, no server error) must pass for every
operation, with the ids of real workers, wallets and alerts among the examples
so the 200 paths are taken, and with missing or too weak tokens for 401/403.
"""

from __future__ import annotations

import copy
import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.conftest import Stack, http, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN = "openapi-admin-token"
SCORES_ONLY = "openapi-scores-token"
PORT = 16093
SIM = (
    "--seed", "7", "--workers", "40", "--days", "20", "--takeovers", "2",
    "--ring-workers", "3", "--sanctioned-direct", "1", "--sanctioned-linked", "1",
)  # fmt: skip
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Generated cases per operation and mode (more for a deeper local run).
EXAMPLES = int(os.environ.get("VIGIL_TEST_OPENAPI_EXAMPLES", "12"))
SPEC_FILE = Path(__file__).resolve().parents[2] / "streams" / "openapi.json"


@dataclass
class Live:
    """A running engine with known workers, wallets and alerts."""

    base: str
    workers: list[str]
    wallets: list[str]
    alerts: list[dict[str, Any]]


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    stack = Stack(kafka_bootstrap, tmp_path_factory.mktemp("openapi"))
    stack.env_extra["VIGIL_API_TOKENS"] = f"{ADMIN}:admin;{SCORES_ONLY}:scores"
    out = stack.workdir / "sim"
    stack.create_topics()
    stack.vigil(
        "simulate", *SIM, "--out", str(out), "--kafka", "--bootstrap", stack.bootstrap,
        "--topic-prefix", stack.prefix, "--quiet",
    )  # fmt: skip
    scores, alerts = stack.workdir / "scores.jsonl", stack.workdir / "alerts.jsonl"
    stack.vigil(
        "replay",
        str(out / "events.jsonl"),
        "--scores",
        str(scores),
        "--alerts",
        str(alerts),
        "--quiet",
    )
    expected = [orjson.loads(line) for line in alerts.read_bytes().splitlines()]
    workers = sorted(orjson.loads(line)["worker_id"] for line in scores.read_bytes().splitlines())
    assert {a["type"] for a in expected} >= {"SANCTIONED_PAYOUT", "SHARED_WALLET"}
    try:
        stack.start_engine("engine", PORT)
        base = f"http://127.0.0.1:{PORT}"

        def caught_up() -> bool:
            status, body = http("GET", f"{base}/alerts?limit=1000", token=ADMIN)
            overview = http("GET", f"{base}/overview", token=ADMIN)[1]
            return (
                status == 200
                and body["count"] == len(expected)  # type: ignore[index]
                and overview["workers"] == len(workers)  # type: ignore[index]
                and http("GET", f"{base}/readyz", token=ADMIN)[0] == 200
            )

        wait_until(caught_up, 180, "the engine to score every worker and raise every alert")
        wallets = sorted({a["wallet"] for a in expected if a["wallet"]})
        yield Live(base, workers, wallets, expected)
    finally:
        for proc in stack.procs:
            stack.stop(proc)


def _examples(values: list[str]) -> dict[str, dict[str, str]]:
    return {f"known{i}": {"value": v} for i, v in enumerate(values)}


def with_known_ids(spec: dict[str, Any], live: Live) -> dict[str, Any]:
    """Return the description with real ids as parameter examples (so 200s are exercised)."""
    spec = copy.deepcopy(spec)
    picks = {
        "worker_id": [*live.workers[:3], *sorted({a["worker_id"] for a in live.alerts})[:4]],
        "address": live.wallets[:3],
        "wallet": live.wallets[:3],
        # Resolving changes state; a couple of real alerts is enough for the 202 path.
        "alert_id": [a["alert_id"] for a in live.alerts][:2],
    }
    for item in spec["paths"].values():
        for op in item.values():
            for p in op.get("parameters", []):
                if p["name"] in picks:
                    p.pop("example", None)
                    p["examples"] = _examples(picks[p["name"]])
    body = spec["paths"]["/rank"]["post"]["requestBody"]["content"]["application/json"]
    body["example"] = {"workers": [*live.workers[:10], "w-nobody"], "min_confidence": 0.1}
    return spec


@pytest.fixture(scope="module")
def api_schema(live: Live) -> Any:
    req = urllib.request.Request(  # noqa: S310 - loopback URL
        f"{live.base}/openapi.json", headers={"Authorization": f"Bearer {SCORES_ONLY}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/json")
        served = json.loads(resp.read())
    schema = schemathesis.openapi.from_dict(with_known_ids(served, live))
    schema.config.update(base_url=live.base)
    return schema


def test_the_description_is_valid_openapi() -> None:
    spec = json.loads(SPEC_FILE.read_text())
    schema = schemathesis.openapi.from_dict(spec)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    routes = {(m.upper(), path) for path, item in spec["paths"].items() for m in item}
    assert routes >= {
        ("GET", "/workers/{worker_id}/trust"),
        ("GET", "/workers/{worker_id}/explain"),
        ("GET", "/workers/{worker_id}/history"),
        ("POST", "/rank"),
        ("GET", "/decision"),
        ("GET", "/agent-tools.json"),
        ("GET", "/wallets/{address}/exposure"),
        ("GET", "/alerts"),
        ("POST", "/alerts/{alert_id}/resolve"),
        ("GET", "/overview"),
        ("GET", "/metrics"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/"),
        ("GET", "/openapi.json"),
    }
    scopes = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scopes["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        for method, op in item.items():
            needs = {
                s for req in op.get("security", spec["security"]) for s in req.get("bearerAuth", [])
            }
            assert needs <= {"scores", "alerts", "admin"}, (method, path)
            if op.get("security", spec["security"]):
                assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_served_description_is_the_package_file(live: Live) -> None:
    # Every route but /healthz needs a token (CONTRACT.md), any scope for this one.
    assert http("GET", f"{live.base}/openapi.json")[0] == 401
    status, served = http("GET", f"{live.base}/openapi.json", token=SCORES_ONLY)
    assert status == 200
    assert served == json.loads(SPEC_FILE.read_text())


#: Every operation of the description, as "METHOD /path" (collected without a server).
OPERATIONS = [
    f"{method.upper()} {path}"
    for path, item in json.loads(SPEC_FILE.read_text())["paths"].items()
    for method in item
]
#: Operations whose success status the known ids must reach.
MUST_SUCCEED = {
    "GET /workers/{worker_id}/trust": 200,
    "GET /workers/{worker_id}/explain": 200,
    "GET /workers/{worker_id}/history": 200,
    "GET /wallets/{address}/exposure": 200,
    "GET /alerts": 200,
    "GET /overview": 200,
    "POST /rank": 200,
    "GET /decision": 200,
    "POST /alerts/{alert_id}/resolve": 202,
}


def operation(schema: Any, label: str) -> Any:
    method, path = label.split(" ", 1)
    return schema[path][method]


@pytest.mark.parametrize("label", OPERATIONS)
def test_every_operation_conforms(api_schema: Any, label: str) -> None:
    """Schemathesis' explicit-example cases, then generated valid and invalid requests."""
    op = operation(api_schema, label)
    auth = {"Authorization": f"Bearer {ADMIN}"}
    statuses: list[int] = []
    examples = api_schema.get_strategies_from_examples(op)
    runs = [(st.one_of(examples), 3 * len(examples))] if examples else []
    runs.append((op.as_strategy(), EXAMPLES))
    if op.definition.raw.get("parameters") or op.definition.raw.get("requestBody"):
        negative = op.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE)
        runs.append((negative, EXAMPLES))
    for strategy, n in runs:

        @settings(max_examples=n, suppress_health_check=list(HealthCheck), deadline=None)
        @given(case=strategy)
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=auth, checks=CHECKS)
            statuses.append(response.status_code)

        check()
    assert statuses
    if label in MUST_SUCCEED:
        assert MUST_SUCCEED[label] in statuses, (label, sorted(set(statuses)))


def test_missing_and_weak_tokens_conform(api_schema: Any, live: Live) -> None:
    seen: set[tuple[str, str, int]] = set()
    for result in api_schema.get_all_operations():
        op = result.ok()
        security = op.definition.raw.get("security", api_schema.raw_schema["security"])
        params = {"worker_id": live.workers[0], "address": live.wallets[0], "alert_id": "x"}
        path_parameters = {k: v for k, v in params.items() if "{" + k + "}" in op.path}
        body = {"workers": live.workers[:2]} if op.method == "post" else None
        if op.path.endswith("/resolve"):
            body = {"disposition": "benign"}
        for token in (None, "not-a-token", SCORES_ONLY):
            extra = {} if body is None else {"body": body}
            case = op.Case(path_parameters=path_parameters, **extra)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)
            seen.add((op.method.upper(), op.path, response.status_code))
            if not security:
                assert response.status_code < 400, (op.path, response.status_code)
    assert ("GET", "/alerts", 403) in seen
    assert ("GET", "/workers/{worker_id}/trust", 401) in seen
    assert ("GET", "/workers/{worker_id}/trust", 200) in seen
    assert ("GET", "/healthz", 200) in seen
