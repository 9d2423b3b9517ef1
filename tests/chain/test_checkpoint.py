"""The checkpoint file: atomic replacement and strict reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.checkpoint import Checkpoint, FileCheckpointStore
from chain.errors import CheckpointError


def test_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "sub" / "cp.json")
    assert store.load() is None
    cp = Checkpoint(1, 10, "0x" + "ab" * 32, ((9, "0x" + "cd" * 32), (10, "0x" + "ab" * 32)))
    store.save(cp)
    assert store.load() == cp
    store.save(Checkpoint(1, 11, None))
    assert store.load() == Checkpoint(1, 11, None)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["cp.json"]  # no temp files left


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"v": 2}',
        '{"v": 1, "chain_id": 1}',
        '{"v": 1, "chain_id": "x", "block_number": 1, "block_hash": null, "recent": []}',
    ],
)
def test_malformed_checkpoint_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "cp.json"
    path.write_text(text)
    with pytest.raises(CheckpointError):
        FileCheckpointStore(path).load()


def test_file_is_versioned_json(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    FileCheckpointStore(path).save(Checkpoint(31337, 5, "0x" + "00" * 32))
    assert json.loads(path.read_text())["v"] == 1
