"""Raw identity values never leave decoding: a grep of every topic, the data directory,
the engine's log, /metrics and the API finds none of them (real broker, real engine)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient

from tests.integration.conftest import Stack, http, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKER = "w-pii-1"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
#: Fragments of every raw value sent (and of its normalised form), lower-cased: none may
#: appear anywhere but in the input topic the sender wrote them to.
NEEDLES = [
    "5550142",
    "555-0142",
    "555 0142",
    "5550143",
    "quentin",
    "xylophone",
    "quokka",
    "nwbk6016",
    "zyxw9876",
    "zorblax",
    "misrouted.zyx",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def _identity(i: int, kind: str, **fields: object) -> dict[str, object]:
    return {
        "event_id": f"i-{i}",
        "worker_id": WORKER,
        "observed_at": _at(i),
        "source": "hr",
        "kind": kind,
        **fields,
    }


def _messages() -> tuple[list[tuple[str, bytes | None, bytes]], int]:
    key = WORKER.encode()
    valid = [
        _identity(1, "attribute", attribute="phone", value="+1 (415) 555-0142", voip=True),
        _identity(2, "attribute", attribute="phone", value="(415) 555 0142", country="US"),
        _identity(3, "attribute", attribute="email", value="  Quentin.Zyx@Example.ORG "),
        _identity(4, "attribute", attribute="postal_address", value="77 Xylophone Street, Apt 9"),
        _identity(5, "device", signal="laptop_shipped", value="88 Quokka Road, Suite 4"),
        _identity(6, "attribute", attribute="bank_account", value="GB29 NWBK 6016 1331 9268 19"),
        _identity(7, "attribute", attribute="resume", value="resume-fp-ZYXW9876"),
        _identity(8, "device", signal="remote_access_tool", detail="AnyDesk", device_id="d-7"),
        _identity(9, "verification", check="liveness", result="pass", score=0.97),
        _identity(10, "verification", check="interview", result="fail"),
    ]
    malformed = [
        _identity(20, "attribute", attribute="phone", value="call Zorblax 555 0142"),
        _identity(21, "attribute", attribute="email", value="quentin at xylophone"),
        _identity(22, "attribute", attribute="fax", value="+1 415 555 0143"),
        _identity(23, "attribute", attribute="phone", value="+1 415 555 0143", country="ZORBLAX"),
        _identity(24, "attribute", attribute="email", value={"q": "quentin@xylophone.org"}),
    ]
    out: list[tuple[str, bytes | None, bytes]] = [
        ("identity", key, orjson.dumps(e)) for e in valid + malformed
    ]
    out.append(("identity", key, b'{"kind": "attribute", "value": "+1 (415) 555-0143", "wor'))
    # Keyed wrong: the engine sends it on to its own partition, hashed.
    misrouted = _identity(30, "attribute", attribute="email", value="misrouted.zyx@example.org")
    out.append(("identity", b"someone-else", orjson.dumps(misrouted)))
    tasks = [
        {
            "event_id": f"t-{i}",
            "worker_id": WORKER,
            "payer_id": "agent-1",
            "task_id": f"k-{i}",
            "outcome": "accepted",
            "assigned_at": _at(i),
            "completed_at": _at(i + 0.5),
        }
        for i in range(5)
    ]
    out.extend(("tasks", key, orjson.dumps(t)) for t in tasks)
    return out, len(malformed) + 1


def _found(data: bytes) -> list[str]:
    low = data.lower()
    return [n for n in NEEDLES if n.encode() in low]


def test_no_raw_identity_value_reaches_a_topic_store_log_metric_or_answer(stack: Stack) -> None:
    stack.partitions = 2
    stack.env_extra["VIGIL_IDENTITY_KEYS"] = (
        "it2:integration-key-new-0123,it1:integration-key-old-012"
    )
    stack.create_topics()
    port = _free_port()
    engine = stack.start_engine("engine", port)
    messages, n_bad = _messages()
    stack.produce(messages)
    base = f"http://127.0.0.1:{port}"
    explained: dict[str, object] = {}

    def settled() -> bool:
        nonlocal explained
        status, body = http("GET", f"{base}/workers/{WORKER}/explain")
        if status != 200 or not isinstance(body, dict):
            return False
        explained = body
        identity = body["identity"]
        assert isinstance(identity, dict)
        letters = stack.read_all("deadletters", timeout_s=1)
        return len(identity["attributes"]) == 7 and len(letters) == n_bad

    wait_until(settled, 120, "identity events applied and dead letters written", 2.0)

    # What /explain shows: hashes under both keys, device facts, verdicts.
    identity = explained["identity"]
    assert isinstance(identity, dict)
    attrs = identity["attributes"]
    phones = [a for a in attrs if a["attribute"] == "phone"]
    assert len(phones) == 1 and phones[0]["voip"] is True  # two spellings, one value
    assert all(a["value_hash"].startswith("it2:") for a in attrs)
    # Hashed under both keys, but for the misrouted one: it came back as its newest hash.
    assert sorted(len(a["value_hashes"]) for a in attrs) == [1, 2, 2, 2, 2, 2, 2]
    assert {d["signal"] for d in identity["devices"]} == {"laptop_shipped", "remote_access_tool"}
    assert [v["result"] for v in identity["verdicts"]] == ["pass", "fail"]
    letters = [orjson.loads(v) for _, v, _, _ in stack.read_all("deadletters")]
    assert {d["reason"] for d in letters} >= {"BAD_IDENTITY_VALUE", "OUT_OF_RANGE", "BAD_JSON"}

    answers = [orjson.dumps(explained)]
    for path in ("/alerts", f"/workers/{WORKER}/trust", f"/workers/{WORKER}/history"):
        answers.append(orjson.dumps(http("GET", base + path)[1]))
    status, metrics_text = http("GET", f"{base}/metrics")
    assert status == 200 and isinstance(metrics_text, str)
    stack.stop(engine)  # flushes RocksDB to its files

    leaks: dict[str, list[str]] = {}
    sent = {raw for topic, _, raw in messages if topic == "identity"}
    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap)
    try:
        topics = [t for t in admin.list_topics() if t.startswith(stack.prefix)]
    finally:
        admin.close()
    assert any(t.endswith("changelog") for t in topics), topics
    for topic in topics:
        for _, value, _, _ in stack.read_all(topic[len(stack.prefix) :], timeout_s=2):
            if topic == stack.topic("identity") and value in sent:
                continue  # what the sender wrote; the engine's own copies are checked
            if hits := _found(value or b""):
                leaks.setdefault(topic, []).extend(hits)
    for path in Path(stack.workdir / "engine").rglob("*"):
        if path.is_file() and (hits := _found(path.read_bytes())):
            leaks[str(path)] = hits
    log_text = (stack.workdir / "engine.log").read_bytes()
    assert b"dead letter from" in log_text  # the log was written to
    if hits := _found(log_text):
        leaks["engine.log"] = hits
    if hits := _found(metrics_text.encode()):
        leaks["/metrics"] = hits
    for answer in answers:
        if hits := _found(answer):
            leaks.setdefault("API", []).extend(hits)
    assert not leaks, leaks
    # The data directory was really searched: the worker's state is in it.
    assert any(
        b"it2:" in p.read_bytes() for p in Path(stack.workdir / "engine").rglob("*") if p.is_file()
    ) or any(b"it2:" in (v or b"") for _, v, _, _ in stack.read_all("engine-workers-changelog"))
