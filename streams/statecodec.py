"""The bytes of a worker's state in its table and changelog: MessagePack version 4.

`encode_state` writes the version-4 record of `reputation.codec` as MessagePack
(its fingerprints as raw bytes); `decode_state` reads it, and the JSON records
of versions 1 to 3 that tables and changelogs written by older builds hold (a
MessagePack record of a map never starts with ``{``, a JSON one always does).
"""

from __future__ import annotations

from typing import cast

import msgpack
import orjson

from reputation.codec import state_from_record, state_to_record
from reputation.idwindow import DEFAULT_DEDUP, DedupConfig
from reputation.state import WorkerState

__all__ = ["decode_state", "encode_state"]


def encode_state(s: WorkerState) -> bytes:
    """Return the stored bytes of a worker state.

    Examples
    --------
    >>> raw = encode_state(WorkerState("w-1"))
    >>> decode_state(raw) == WorkerState("w-1"), raw[:1] != b"{"
    (True, True)
    """
    return cast(bytes, msgpack.packb(state_to_record(s, binary=True), use_bin_type=True))


def decode_state(raw: bytes, dedup: DedupConfig = DEFAULT_DEDUP) -> WorkerState:
    """Return the worker state of stored bytes: MessagePack (v4) or JSON (v1-v3)."""
    if raw[:1] == b"{":
        return state_from_record(orjson.loads(raw), dedup)
    rec = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    return state_from_record(rec, dedup)
