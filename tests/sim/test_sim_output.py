"""Determinism, replay order and contract validity of `vigil simulate` output."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from sim.events import sort_key
from sim.generate import Simulation
from sim.output import write_simulation
from tests.sim.checks import problems

SMALL = {"seed": 5, "workers": 80, "days": 20, "invalid_rate": 0.003}


def _write(run: Simulation, out: Path) -> tuple[bytes, bytes]:
    events, truth = write_simulation(run, out)
    return events.read_bytes(), truth.read_bytes()


def test_same_seed_gives_identical_bytes(
    make_run: Callable[..., Simulation], sanctions_lists: object, tmp_path: Path
) -> None:
    from sim.config import SimConfig
    from sim.generate import simulate

    first = _write(make_run(**SMALL), tmp_path / "a")
    # A fresh run, not the memoised one: nothing may depend on process state.
    second = _write(simulate(SimConfig(**SMALL), sanctions_lists), tmp_path / "b")  # type: ignore[arg-type]
    assert first == second


def test_different_seed_differs(make_run: Callable[..., Simulation], tmp_path: Path) -> None:
    a = _write(make_run(**SMALL), tmp_path / "a")
    b = _write(make_run(**{**SMALL, "seed": 6}), tmp_path / "b")
    assert a[0] != b[0]
    assert a[1] != b[1]


def test_events_are_in_replay_order(run: Simulation) -> None:
    keys = [sort_key(e) for e in run.events]
    assert keys == sorted(keys)
    times = [e.ts for e in run.events]
    assert times == sorted(times)


def test_event_time_matches_payload(run: Simulation) -> None:
    field = {
        "tasks": "completed_at",
        "quality": "scored_at",
        "payouts": "paid_at",
        "transfers": "block_time",
    }
    for e in run.events:
        if e.topic in field:
            got = datetime.fromisoformat(str(e.payload[field[e.topic]]).replace("Z", "+00:00"))
            assert int(got.timestamp()) == e.ts


def test_every_event_is_valid_and_unique(run: Simulation) -> None:
    bad = [(e.topic, p) for e in run.events for p in problems(e.topic, e.payload)]
    assert bad == []
    ids = Counter(e.event_id for e in run.events)
    assert [i for i, n in ids.items() if n > 1] == []
    assert {e.topic for e in run.events} == {
        "tasks",
        "quality",
        "payouts",
        "transfers",
        "sanctions",
    }


def test_times_are_utc_and_inside_the_run(run: Simulation) -> None:
    start = datetime.fromisoformat(str(run.truth["start"]).replace("Z", "+00:00"))
    end = datetime.fromisoformat(str(run.truth["end"]).replace("Z", "+00:00"))
    for e in run.events:
        assert start.timestamp() <= e.ts < end.timestamp()
        for name in ("assigned_at", "completed_at", "scored_at", "paid_at", "block_time"):
            if name in e.payload:
                assert str(e.payload[name]).endswith("Z")


def test_addresses_mix_checksummed_and_lowercase(run: Simulation) -> None:
    wallets = [str(e.payload["wallet"]) for e in run.events if e.topic == "payouts"]
    lower = sum(w == w.lower() for w in wallets)
    assert 0 < lower < len(wallets)
    tokens = Counter(e.payload["token"] for e in run.events if e.topic == "transfers")
    assert tokens["ETH"] > 0 and tokens["0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"] > 0


def test_kafka_keys(run: Simulation) -> None:
    for e in run.events[:5000]:
        if e.topic in ("tasks", "quality", "payouts"):
            assert e.key == e.payload["worker_id"]
        elif e.topic == "transfers":
            assert e.key == str(e.payload["from"]).lower()
        else:
            assert e.key == e.payload["address"]


def test_no_invalid_events_by_default(run: Simulation) -> None:
    assert run.truth["invalid_event_ids"] == []


def test_invalid_events_are_invalid_and_listed(make_run: Callable[..., Simulation]) -> None:
    run = make_run(**SMALL)
    invalid = set(run.truth["invalid_event_ids"])  # type: ignore[arg-type]
    assert len(invalid) >= 3
    seen = set()
    for e in run.events:
        if e.event_id in invalid:
            seen.add(e.event_id)
            assert problems(e.topic, e.payload), e.payload
        else:
            assert problems(e.topic, e.payload) == []
    assert seen == invalid


def test_lead_parser_accepts_valid_and_rejects_invalid(
    make_run: Callable[..., Simulation],
) -> None:
    events_mod = pytest.importorskip("reputation.events")
    errors_mod = pytest.importorskip("reputation.errors")
    decode = getattr(events_mod, "decode_event", None)
    if decode is None:
        pytest.skip("reputation.events.decode_event does not exist yet")
    run = make_run(**SMALL)
    invalid = set(run.truth["invalid_event_ids"])  # type: ignore[arg-type]
    now = datetime.fromisoformat(str(run.truth["end"]).replace("Z", "+00:00")).astimezone(UTC)
    for e in run.events:
        raw = orjson.dumps(e.payload)
        if e.event_id in invalid:
            with pytest.raises(errors_mod.InvalidEventError):
                decode(e.topic, raw, now=now)
        else:
            decode(e.topic, raw, now=now)


def test_written_files_are_the_replay_format(run: Simulation, tmp_path: Path) -> None:
    events_path, truth_path = write_simulation(run, tmp_path)
    lines = events_path.read_bytes().splitlines()
    assert len(lines) == len(run.events)
    first = json.loads(lines[0])
    assert set(first) == {"topic", "event"}
    truth = json.loads(truth_path.read_text())
    assert truth["seed"] == 11 and len(truth["workers"]) == 240


def test_output_does_not_depend_on_hash_seed_or_process(
    make_run: Callable[..., Simulation], tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    expected = _write(make_run(**SMALL), tmp_path / "here")
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    argv = [
        sys.executable,
        "-m",
        "sim.cli",
        "simulate",
        "--seed",
        "5",
        "--workers",
        "80",
        "--days",
        "20",
        "--invalid-rate",
        "0.003",
        "--out",
        str(tmp_path / "there"),
        "--quiet",
    ]
    subprocess.run(argv, cwd=repo, env=env, check=True, timeout=300)
    there = tmp_path / "there"
    assert ((there / "events.jsonl").read_bytes(), (there / "truth.json").read_bytes()) == expected
