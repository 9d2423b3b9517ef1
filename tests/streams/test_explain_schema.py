"""`reputation.assess.explain` matches the OpenAPI ``Explanation`` schema (no server needed).

The integration test checks the live route; this one catches a changed explanation
shape (a new key under ``additionalProperties: false``) in the unit run.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import timedelta
from typing import Any

import pytest

from reputation.assess import explain
from reputation.events import WorkerEvent
from reputation.model import TrustModel
from reputation.state import WorkerState, apply_event
from streams.web import OPENAPI_JSON
from tests.reputation.conftest import T0, kind_of, payout, quality, task

jsonschema = pytest.importorskip("jsonschema")


def _resolved(node: Any, schemas: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _resolved(schemas[node["$ref"].rsplit("/", 1)[-1]], schemas)
        return {k: _resolved(v, schemas) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(v, schemas) for v in node]
    return node


def test_explanation_of_random_workers_matches_the_openapi_schema() -> None:
    schemas = json.loads(OPENAPI_JSON)["components"]["schemas"]
    schema = _resolved(copy.deepcopy(schemas["Explanation"]), schemas)
    # The route adds these two from the engine, not from `explain`.
    schema["required"] = [r for r in schema["required"] if r not in ("open_alerts", "wallets")]
    rng, model = random.Random(11), TrustModel()
    for _ in range(60):
        s = WorkerState("w-1")
        for i in range(rng.randint(0, 40)):
            day, kind = rng.uniform(0, 100), rng.choice("tqp")
            e: WorkerEvent
            if kind == "t":
                outcome = rng.choice(["accepted", "rejected", "late", "abandoned"])
                e = task(i, day=day, outcome=outcome)
            elif kind == "q":
                e = quality(i, day=day, score=rng.random(), weight=rng.uniform(0.1, 5))
            else:
                e = payout(i, day=day, payer=f"p-{rng.randint(0, 4)}")
            s = apply_event(model, s, kind_of(e), e)
        at = T0 + timedelta(days=rng.choice([0, 101, 500]))
        jsonschema.validate(json.loads(json.dumps(explain(model, s, at))), schema)
