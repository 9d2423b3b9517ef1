"""Issue 15: no message can stop a decode path, dead letters stay small, misrouted events move.

Every decode path (the engine's `Processor.decode`, its two agents, and
``vigil replay``) turns any exception into a dead letter with a reason, and the
messages after it are processed as if it had not been there.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

import streams.processor
from config.settings import Settings
from reputation.eip55 import checksum_address
from streams import metrics
from streams.outbox import key_partition
from streams.processor import (
    DEAD_LETTER_MAX_BYTES,
    PAYLOAD_PREVIEW_BYTES,
    DeadLetter,
    Decoded,
    Processor,
)
from streams.replay import _decode_line, replay_files
from tests.helpers.events import make_events
from tests.streams.test_engine_unit import (
    FakeEvent,
    FakeMessage,
    FakeProducer,
    batch_of,
    make_engine,
)

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
VIGIL = str(Path(sys.executable).with_name("vigil"))
TOPICS = ("tasks", "quality", "payouts", "transfers", "sanctions", "alert-status")
ERRORS = [
    ValueError("Exceeds the limit (4300 digits) for integer string conversion"),
    RecursionError("maximum recursion depth exceeded"),
    KeyError("amount"),
    TypeError("unhashable type: 'dict'"),
    ZeroDivisionError("division by zero"),
    MemoryError(),
    RuntimeError("a bug"),
]


def transfer(i: int, amount: str = "12500000") -> dict[str, object]:
    return {
        "event_id": f"1:0x{i:064x}:0",
        "chain_id": 1,
        "block_number": 21_000_000 + i,
        "block_time": "2026-11-01T10:06:11Z",
        "tx_hash": f"0x{i:064x}",
        "log_index": 0,
        "token": "ETH",
        "from": checksum_address(f"{i + 1:040x}"),
        "to": checksum_address(f"{i + 2:040x}"),
        "amount": amount,
        "decimals": 18,
    }


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("topic", TOPICS)
def test_issue_15_any_decode_exception_is_a_dead_letter(
    topic: str, error: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(streams.processor, "decode_event", boom)
    monkeypatch.setattr(streams.processor, "parse_alert_status", boom)
    processor = Processor(Settings())
    raw = b'{"event_id": "x"}'
    result = processor.decode(f"vigil.{topic}", raw, 3, 17)
    assert isinstance(result, DeadLetter)
    assert (result.reason, result.partition, result.offset, result.raw) == (
        "UNDECODABLE",
        3,
        17,
        raw,
    )
    assert type(error).__name__ in result.error
    # Replay's path, the same way: a line, not a traceback.
    line = orjson.dumps({"topic": topic, "event": {"event_id": "x"}})
    dl = _decode_line(processor, "in.jsonl", 5, line)
    assert isinstance(dl, DeadLetter) and dl.reason == "UNDECODABLE" and dl.offset == 5


def test_issue_15_replay_line_wrapper_failure_is_a_dead_letter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import streams.replay

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RecursionError("deep")

    line = orjson.dumps({"topic": "tasks", "event": {"a": 1}})
    monkeypatch.setattr(streams.replay.orjson, "dumps", boom)
    dl = _decode_line(Processor(Settings()), "in.jsonl", 9, line)
    assert (
        isinstance(dl, DeadLetter) and dl.reason == "UNDECODABLE" and "RecursionError" in dl.error
    )


def test_issue_15_a_transfer_amount_of_5000_digits_is_out_of_range() -> None:
    processor = Processor(Settings())
    for amount in ("9" * 5000, "0" * 5000 + "1", str(2**256)):
        result = processor.decode("vigil.transfers", orjson.dumps(transfer(1, amount)), 0, 1)
        assert isinstance(result, DeadLetter), amount[:10]
        assert result.reason == "OUT_OF_RANGE" and result.error.startswith("amount:")
    ok = processor.decode("vigil.transfers", orjson.dumps(transfer(1, str(2**256 - 1))), 0, 2)
    assert isinstance(ok, Decoded)


class FakeStream:
    """What an agent iterates: one batch from ``take_events``."""

    def __init__(self, batch: list[FakeEvent]) -> None:
        self.batch = batch

    async def take_events(self, n: int, within: float) -> Any:
        yield self.batch


def test_issue_15_a_bad_transfer_does_not_stop_the_ones_after_it(
    loop: asyncio.AbstractEventLoop,
) -> None:
    engine = make_engine()
    producer = FakeProducer()
    engine.app.producer._ensure_producer = lambda: producer  # type: ignore[method-assign]  # noqa: SLF001
    values = [orjson.dumps(transfer(0, "9" * 5000))] + [
        orjson.dumps(transfer(i)) for i in range(1, 50)
    ]
    batch = [FakeEvent(FakeMessage("vigil.transfers", 0, i), v) for i, v in enumerate(values)]
    before = metrics.DEAD_LETTERS.labels("transfers", "OUT_OF_RANGE")._value.get()
    loop.run_until_complete(engine._route_chain(FakeStream(batch)))  # noqa: SLF001
    facts = [f for t, _, v in producer.sent if t == "vigil.links" for f in orjson.loads(v)["facts"]]
    assert [f["event"]["event_id"] for f in facts] == [
        transfer(i)["event_id"] for i in range(1, 50)
    ]
    dls = [orjson.loads(v) for t, _, v in producer.sent if t == "vigil.deadletters"]
    assert [(d["reason"], d["offset"]) for d in dls] == [("OUT_OF_RANGE", 0)]
    assert metrics.DEAD_LETTERS.labels("transfers", "OUT_OF_RANGE")._value.get() == before + 1


def test_issue_15_an_exception_in_a_worker_batch_dead_letters_one_message(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine()
    producer = FakeProducer()
    engine.app.producer._ensure_producer = lambda: producer  # type: ignore[method-assign]  # noqa: SLF001
    real = streams.processor.decode_event

    def flaky(kind: str, raw: bytes, **kw: Any) -> Any:
        if b'"poison"' in raw:
            raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")
        return real(kind, raw, **kw)

    monkeypatch.setattr(streams.processor, "decode_event", flaky)
    events = make_events(5, 60)
    msgs = [(t, orjson.dumps(e)) for t, e in events]
    msgs.insert(7, ("tasks", b'{"event_id": "poison", "worker_id": "w-1"}'))
    before = metrics.DEAD_LETTERS.labels("tasks", "UNDECODABLE")._value.get()
    loop.run_until_complete(engine.process_batch(batch_of(msgs)))
    dls = [orjson.loads(v) for t, _, v in producer.sent if t == "vigil.deadletters"]
    assert [d["reason"] for d in dls] == ["UNDECODABLE"]
    assert metrics.DEAD_LETTERS.labels("tasks", "UNDECODABLE")._value.get() == before + 1
    scored = {orjson.loads(v)["worker_id"] for t, _, v in producer.sent if t == "vigil.scores"}
    assert scored == {e["worker_id"] for _, e in events}
    expected = replay_states([(t, e) for t, e in events])
    for worker_id, state in expected.items():
        assert engine.load_state(worker_id) == state


def replay_states(events: list[tuple[str, dict[str, object]]]) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.jsonl"
        path.write_bytes(
            b"".join(orjson.dumps({"topic": t, "event": e}) + b"\n" for t, e in events)
        )
        # In the engine's (arrival) order: the sums agree to the last bit only then.
        return replay_files(Settings(), [path], progress=False, order="file").states


PAYLOADS = {
    "ascii": b"a",
    "nul": b"\x00",
    "invalid-utf8": b"\xff",
    "quotes": b'"',
    "backslash": b"\\",
    "euro": "€".encode(),
    "emoji": "😀".encode(),
    "newline": b"\n",
}


@pytest.mark.parametrize("size", [1_000_000, 10_000_000], ids=["1MB", "10MB"])
@pytest.mark.parametrize("unit", list(PAYLOADS), ids=list(PAYLOADS))
def test_issue_15_dead_letters_are_bounded(size: int, unit: str) -> None:
    raw = (PAYLOADS[unit] * (size // len(PAYLOADS[unit]) + 1))[:size]
    dl = DeadLetter("vigil.tasks", 3, 17, "TOO_LARGE", "x" * 100_000 + "\x00" * 10_000, raw)
    record = dl.to_json()
    encoded = orjson.dumps(record)
    assert len(encoded) <= DEAD_LETTER_MAX_BYTES
    assert len(orjson.dumps(record["payload"])) <= PAYLOAD_PREVIEW_BYTES
    assert len(record["payload"]) > 100  # a preview, not nothing  # type: ignore[arg-type]
    assert record["payload_bytes"] == size
    assert record["payload_sha256"] == hashlib.sha256(raw).hexdigest()
    assert (record["source_topic"], record["partition"], record["offset"]) == ("vigil.tasks", 3, 17)
    assert raw.decode("utf-8", errors="replace").startswith(str(record["payload"]))


@pytest.mark.parametrize("size", [1_000_000, 10_000_000], ids=["1MB", "10MB"])
def test_issue_15_the_engine_sends_bounded_dead_letters(
    loop: asyncio.AbstractEventLoop, size: int
) -> None:
    engine = make_engine()
    producer = FakeProducer()
    engine.app.producer._ensure_producer = lambda: producer  # type: ignore[method-assign]  # noqa: SLF001
    big = b'{"event_id": "big", "worker_id": "w-1", "note": "' + b"\xff" * size + b'"}'
    valid = orjson.dumps(make_events(1, 1)[0][1])
    loop.run_until_complete(engine.process_batch(batch_of([("tasks", big), ("tasks", valid)])))
    dls = [v for t, _, v in producer.sent if t == "vigil.deadletters"]
    assert len(dls) == 1 and len(dls[0]) <= DEAD_LETTER_MAX_BYTES
    assert orjson.loads(dls[0])["reason"] == "TOO_LARGE"
    assert any(t == "vigil.scores" for t, _, _ in producer.sent)


@pytest.mark.parametrize("key", [None, b"w-somebody-else"], ids=["null-key", "wrong-key"])
def test_issue_15_a_misrouted_worker_event_is_sent_to_its_own_partition(
    loop: asyncio.AbstractEventLoop, key: bytes | None
) -> None:
    engine = make_engine()
    producer = FakeProducer()
    engine.app.producer._ensure_producer = lambda: producer  # type: ignore[method-assign]  # noqa: SLF001
    event = make_events(3, 1)[0][1]
    worker = str(event["worker_id"]).encode()
    raw = orjson.dumps(event)
    wrong_partition = (key_partition(worker, 8) + 1) % 8
    for msg in (
        FakeMessage("vigil.tasks", key_partition(key or b"", 8), 5, key=key),
        FakeMessage("vigil.tasks", wrong_partition, 6, key=worker),  # right key, wrong partition
    ):
        producer.sent.clear()
        loop.run_until_complete(engine.process_batch([FakeEvent(msg, raw)]))
        assert producer.sent == [("vigil.tasks", key_partition(worker, 8), raw)]
        assert engine.load_state(worker.decode()).t_ref is None  # not applied here
    # The copy on the right partition, keyed right, is applied there.
    producer.sent.clear()
    right = FakeMessage("vigil.tasks", key_partition(worker, 8), 7, key=worker)
    loop.run_until_complete(engine.process_batch([FakeEvent(right, raw)]))
    assert engine.load_state(worker.decode()).t_ref is not None
    assert [t for t, _, _ in producer.sent if t == "vigil.tasks"] == []


def test_issue_15_replay_cli_goes_on_after_a_5000_digit_amount(tmp_path: Path) -> None:
    lines = [orjson.dumps({"topic": "transfers", "event": transfer(0, "9" * 5000)})]
    lines += [orjson.dumps({"topic": t, "event": e}) for t, e in make_events(4, 50)]
    lines.insert(20, b"[" * 100_000)  # deeply nested
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    dl = tmp_path / "dl.jsonl"
    result = subprocess.run(
        [VIGIL, "replay", str(path), "--scores", str(tmp_path / "s.jsonl"), "--alerts",
         str(tmp_path / "a.jsonl"), "--deadletters", str(dl), "--quiet"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 rejected" in result.stderr
    reasons = sorted(orjson.loads(x)["reason"] for x in dl.read_bytes().splitlines())
    assert reasons == ["BAD_JSON", "OUT_OF_RANGE"]
    assert len((tmp_path / "s.jsonl").read_bytes().splitlines()) == 4
