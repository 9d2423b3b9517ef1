"""The watcher's cursor: the last block whose transfers Kafka acknowledged.

Stored as versioned JSON (``{"v": 1, ...}``) and replaced atomically (write a
temporary file in the same directory, fsync, rename, fsync the directory), so
a crash leaves either the old or the new checkpoint, never half of one. It also
keeps the hashes of the last `RECENT_BLOCKS` published blocks, which is how
the watcher finds the fork point of a reorganisation deeper than its
confirmations, even after a restart.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from chain.errors import CheckpointError

__all__ = [
    "RECENT_BLOCKS",
    "Checkpoint",
    "CheckpointStore",
    "FileCheckpointStore",
    "MemoryCheckpointStore",
]

RECENT_BLOCKS = 128
_VERSION = 1


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Block `block_number` (hash `block_hash`) and every block before it are published.

    `recent` holds (number, hash) of the last published blocks, oldest first,
    ending with this block.
    """

    chain_id: int
    block_number: int
    block_hash: str | None
    recent: tuple[tuple[int, str], ...] = ()

    def to_json(self) -> dict[str, object]:
        """Return the versioned JSON object."""
        return {
            "v": _VERSION,
            "chain_id": self.chain_id,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "recent": [[n, h] for n, h in self.recent],
        }

    @staticmethod
    def from_json(obj: object) -> Checkpoint:
        """Parse the versioned JSON object, raising `CheckpointError` if it is not one."""
        if not isinstance(obj, dict) or obj.get("v") != _VERSION:
            raise CheckpointError(f"checkpoint must be a JSON object with v={_VERSION}")
        try:
            recent = tuple(
                (int(cast(int, n)), str(h)) for n, h in cast(list[list[object]], obj["recent"])
            )
            block_hash = obj["block_hash"]
            return Checkpoint(
                chain_id=int(cast(int, obj["chain_id"])),
                block_number=int(cast(int, obj["block_number"])),
                block_hash=None if block_hash is None else str(block_hash),
                recent=recent,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint is malformed: {exc}") from exc


class CheckpointStore(Protocol):
    """Where the watcher's cursor lives."""

    def load(self) -> Checkpoint | None: ...

    def save(self, checkpoint: Checkpoint) -> None: ...


class FileCheckpointStore:
    """A JSON file replaced atomically on every save."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Checkpoint | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(f"cannot read checkpoint {self.path}: {exc}") from exc
        try:
            return Checkpoint.from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"checkpoint {self.path} is not JSON: {exc}") from exc

    def save(self, checkpoint: Checkpoint) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        data = json.dumps(checkpoint.to_json(), separators=(",", ":")).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)


class MemoryCheckpointStore:
    """An in-memory store for tests; `saves` counts the saves."""

    def __init__(self, checkpoint: Checkpoint | None = None) -> None:
        self.checkpoint = checkpoint
        self.saves = 0

    def load(self) -> Checkpoint | None:
        return self.checkpoint

    def save(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.saves += 1
