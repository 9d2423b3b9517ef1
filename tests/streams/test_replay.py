"""`vigil replay` over files: the same processing as the engine, no Kafka."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tests.integration.test_pipeline import build_input

VIGIL = str(Path(sys.executable).with_name("vigil"))


def test_replay_reports_bad_lines_and_goes_on(tmp_path: Path) -> None:
    valid, _ = build_input(n_workers=5, n_events=200)
    path = tmp_path / "in.jsonl"
    lines = [orjson.dumps({"topic": t, "event": orjson.loads(raw)}) for t, _, raw in valid]
    lines.insert(10, b"{broken")
    lines.insert(20, orjson.dumps({"topic": "quality", "event": {"score": 3}}))
    lines.insert(30, orjson.dumps({"topic": "nope", "event": {}}))
    path.write_bytes(b"\n".join(lines) + b"\n")
    dl = tmp_path / "dl.jsonl"
    result = subprocess.run(
        [
            VIGIL,
            "replay",
            str(path),
            "--scores",
            str(tmp_path / "s.jsonl"),
            "--alerts",
            str(tmp_path / "a.jsonl"),
            "--deadletters",
            str(dl),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "3 rejected" in result.stderr
    reasons = [orjson.loads(x)["reason"] for x in dl.read_bytes().splitlines()]
    assert reasons == ["BAD_JSON", "OUT_OF_RANGE", "UNKNOWN_TOPIC"]
    assert len((tmp_path / "s.jsonl").read_bytes().splitlines()) == 5
