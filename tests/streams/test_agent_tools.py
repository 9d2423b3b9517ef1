"""The agent tool definitions (streams/agent_tools.json) agree with the API's description.

The running engine's answers are checked against these schemas in
tests/integration/test_decision.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from streams.web import AGENT_TOOLS_JSON, OPENAPI_JSON

SPEC = json.loads(OPENAPI_JSON)
TOOLS = json.loads(AGENT_TOOLS_JSON)
FILE = Path(__file__).resolve().parents[2] / "streams" / "agent_tools.json"


def resolve(x: Any) -> Any:
    """Inline the description's ``$ref`` s (a tool's schema stands on its own)."""
    if isinstance(x, dict):
        if "$ref" in x:
            name = x["$ref"].rsplit("/", 1)[1]
            return resolve(copy.deepcopy(SPEC["components"]["schemas"][name]))
        return {k: resolve(v) for k, v in x.items()}
    if isinstance(x, list):
        return [resolve(v) for v in x]
    return x


def tool(name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in TOOLS["tools"] if t["name"] == name)
    return found


def test_the_served_bytes_are_the_shipped_file() -> None:
    assert FILE.read_bytes() == AGENT_TOOLS_JSON


@pytest.mark.parametrize("name", ["decision", "rank"])
def test_each_tool_is_a_valid_mcp_tool(name: str) -> None:
    t = tool(name)
    assert t["name"].isidentifier() and len(t["description"]) > 80
    for key in ("inputSchema", "outputSchema"):
        assert t[key]["type"] == "object"  # MCP: both are object schemas
        assert jsonschema_rs.meta.is_valid(t[key]), (name, key)
        assert "$ref" not in json.dumps(t[key])


@pytest.mark.parametrize(("name", "schema"), [("decision", "Decision"), ("rank", "RankResult")])
def test_output_schemas_are_the_api_descriptions(name: str, schema: str) -> None:
    assert tool(name)["outputSchema"] == resolve(SPEC["components"]["schemas"][schema])


def test_inputs_are_the_routes_parameters() -> None:
    http = tool("decision")["http"]
    op = SPEC["paths"][http["path"]][http["method"].lower()]
    params = {p["name"]: p for p in op["parameters"]}
    schema = tool("decision")["inputSchema"]
    assert set(schema["properties"]) == set(params)
    assert set(schema["required"]) == {n for n, p in params.items() if p.get("required")}
    rank = tool("rank")
    body = SPEC["paths"][rank["http"]["path"]]["post"]["requestBody"]["content"]
    assert set(rank["inputSchema"]["properties"]) == set(
        resolve(body["application/json"]["schema"])["properties"]
    )


def test_the_input_schema_refuses_what_the_route_refuses() -> None:
    v = jsonschema_rs.Draft202012Validator(tool("decision")["inputSchema"])
    good = {"worker_id": "w-1", "wallet": "0x" + "ab" * 20, "amount": "12.50"}
    assert v.is_valid(good) and v.is_valid({**good, "asset": "ETH"})
    for bad in ({**good, "amount": "-1"}, {**good, "wallet": "0x12"}, {"worker_id": "w-1"}):
        assert not v.is_valid(bad), bad
