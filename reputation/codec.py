"""Versioned records for table values (``{"v": 4, ...}``); never pickle.

The record is a plain ``dict`` so that the caller picks the serialisation (the
engine stores version 4 as MessagePack, ``streams/statecodec.py``; versions 1
to 3 were JSON and still read). Floats survive the round trip exactly, money
travels as decimal strings. Version 4 replaced the list of every applied
event id (``applied``, 8 bytes each, forever) by the id window
(`reputation.idwindow`: 5-byte fingerprints of the events within the
horizon, by 4-hour bucket): ``"ids": [bits, horizon, legacy_until, buckets,
counts, fingerprints, legacy]`` where ``buckets`` are the buckets' numbers, the first
absolute and each next one as the difference to the one before, ``counts``
the ids per bucket and ``fingerprints`` the buckets' packed fingerprints one
after the other (bytes in the binary record, base64 in the JSON-ready one).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import cast

from reputation.drift.codec import drift_state_from_record, drift_state_to_record
from reputation.drift.state import DriftState
from reputation.errors import UnknownRecordVersionError
from reputation.identity import AttributeSeen, DeviceSeen, IdentityState, VerdictSeen
from reputation.idwindow import DEFAULT_DEDUP, DedupConfig, IdWindow, from_legacy
from reputation.state import WorkerState

__all__ = [
    "STATE_VERSION",
    "UnknownRecordVersionError",
    "state_from_record",
    "state_to_record",
    "window_from_record",
    "window_to_record",
]

STATE_VERSION = 4
#: Versions this build reads (v1 had ``flags`` and no alert ids or devices, v2 no
#: identity, v1-v3 every applied id as a 63-bit integer).
_READABLE = (1, 2, 3, 4)


def window_to_record(w: IdWindow, binary: bool = False) -> list[object]:
    """Return the record of an id window (see the module text); `binary`: blobs as bytes.

    Examples
    --------
    >>> from reputation.idwindow import pack
    >>> w = IdWindow(40, 3600.0, {5: pack([1, 2], 5), 7: pack([3], 5)})
    >>> window_to_record(w)[:5]
    [40, 3600.0, None, [5, 2], [2, 1]]
    >>> window_from_record(window_to_record(w)) == w
    True
    """
    hours = sorted(w.buckets)
    deltas = [h - p for h, p in zip(hours, [0, *hours], strict=False)]
    counts = [len(w.buckets[h]) // w.width for h in hours]
    blob = b"".join(w.buckets[h] for h in hours)
    return [
        w.bits,
        w.horizon,
        w.legacy_until,
        deltas,
        counts,
        _blob_out(blob, binary),
        _blob_out(w.legacy, binary),
    ]


def _blob_out(b: bytes, binary: bool) -> bytes | str:
    return b if binary else base64.b64encode(b).decode("ascii")


def _blob_in(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return base64.b64decode(cast(str, value), validate=True)


def window_from_record(rec: object) -> IdWindow:
    """Return the id window of a record written by `window_to_record`."""
    row = cast(list[object], rec)
    bits = int(cast(int, row[0]))
    width = bits // 8
    blob = _blob_in(row[5])
    buckets: dict[int, bytes] = {}
    hour, at = 0, 0
    for delta, count in zip(cast(list[int], row[3]), cast(list[int], row[4]), strict=True):
        hour += int(delta)
        buckets[hour] = blob[at : at + int(count) * width]
        at += int(count) * width
    return IdWindow(bits, _opt_float(row[1]), buckets, _blob_in(row[6]), _opt_float(row[2]))


def state_to_record(s: WorkerState, binary: bool = False) -> dict[str, object]:
    """Return the record of a worker state: JSON-ready, or with bytes if `binary`.

    Examples
    --------
    >>> rec = state_to_record(WorkerState("w-1"))
    >>> rec["v"], state_from_record(rec) == WorkerState("w-1")
    (4, True)
    """
    return {
        "v": STATE_VERSION,
        "worker_id": s.worker_id,
        "t_ref": s.t_ref,
        "first_seen": s.first_seen,
        "last_seen": s.last_seen,
        "outcomes": list(s.outcomes),
        "n_quality": s.n_quality,
        "n_payouts": s.n_payouts,
        "credit": list(s.credit),
        "attempts": list(s.attempts),
        "q_sum": list(s.q_sum),
        "q_weight": list(s.q_weight),
        "q_total": list(s.q_total),
        "payer_weight": dict(sorted(s.payer_weight.items())),
        "payers": sorted(s.payers),
        "paid": {k: str(v) for k, v in sorted(s.paid.items())},
        "wallets": dict(sorted(s.wallets.items())),
        "ids": window_to_record(s.ids, binary),
        "open_alerts": dict(sorted(s.open_alerts.items())),
        "devices": dict(sorted(s.devices.items())),
        "drift": drift_state_to_record(s.drift),
        "identity": identity_to_record(s.identity),
    }


def identity_to_record(s: IdentityState) -> dict[str, object]:
    """Return the JSON-ready record of a worker's identity state (hashes only)."""
    return {
        "values": [
            [v.attribute, list(v.hashes), v.first_seen, v.event_id, v.voip, list(v.sources)]
            for _, v in sorted(s.values.items())
        ],
        "devices": [list(row) for row in s.devices],
        "verdicts": [list(row) for row in s.verdicts],
    }


def identity_from_record(rec: Mapping[str, object]) -> IdentityState:
    """Return the identity state of a record written by `identity_to_record`."""
    values: dict[tuple[str, str], AttributeSeen] = {}
    for row in cast(list[list[object]], rec["values"]):
        hashes = tuple(cast(list[str], row[1]))
        seen = AttributeSeen(
            cast(str, row[0]),
            hashes,
            float(cast(float, row[2])),
            cast(str, row[3]),
            bool(row[4]),
            tuple(cast(list[str], row[5])),
        )
        values[(seen.attribute, hashes[0])] = seen
    devices = tuple(
        cast(DeviceSeen, (float(cast(float, r[0])), *r[1:]))
        for r in cast(list[list[object]], rec["devices"])
    )
    verdicts = tuple(
        cast(VerdictSeen, (float(cast(float, r[0])), *r[1:]))
        for r in cast(list[list[object]], rec["verdicts"])
    )
    return IdentityState(values, devices, verdicts)


def _pair(value: object) -> tuple[float, float]:
    seq = cast(list[float], value)
    return (float(seq[0]), float(seq[1]))


def _long_memory(rec: Mapping[str, object]) -> tuple[float, float]:
    # The undecayed quality record was added beside v2 without a bump (every reader
    # ignores unknown keys). A record written before it has none; its long-memory
    # (score sum, weight) is the closest estimate of it there is.
    return (_pair(rec["q_sum"])[1], _pair(rec["q_weight"])[1])


def _opt_float(value: object) -> float | None:
    return None if value is None else float(cast(float, value))


def _legacy_until(rec: Mapping[str, object], identity: IdentityState) -> float | None:
    """Return the latest event time an old record knows of (work, or identity evidence)."""
    times: list[float] = (
        [float(cast(float, rec["last_seen"]))] if rec["last_seen"] is not None else []
    )
    times += [v.first_seen for v in identity.values.values()]
    times += [float(r[0]) for r in identity.devices] + [float(r[0]) for r in identity.verdicts]
    return max(times) if times else None


def _ids(rec: Mapping[str, object], identity: IdentityState, dedup: DedupConfig) -> IdWindow:
    if "ids" in rec:
        return window_from_record(rec["ids"])
    keys = cast(Iterable[int], rec.get("applied", []))
    return from_legacy(keys, _legacy_until(rec, identity), dedup)


def state_from_record(rec: Mapping[str, object], dedup: DedupConfig = DEFAULT_DEDUP) -> WorkerState:
    """Return the worker state of a record written by `state_to_record` (any readable version).

    A record before version 4 lists every applied id without its time: up to
    ``dedup.max_ids`` of them are carried over (`reputation.idwindow.from_legacy`).
    """
    version = rec.get("v")
    if version not in _READABLE:
        raise UnknownRecordVersionError(
            f"worker state version must be one of {_READABLE}, got {version!r}"
        )
    if version == 1:  # open alert types without ids: keep them open under their type
        open_alerts = {f"v1:{t}": t for t in cast(list[str], rec.get("flags", []))}
    else:
        open_alerts = dict(cast(dict[str, str], rec["open_alerts"]))
    outcomes = cast(list[int], rec["outcomes"])
    identity = (
        identity_from_record(cast(Mapping[str, object], rec["identity"]))
        if rec.get("identity") is not None
        else IdentityState()
    )
    return WorkerState(
        worker_id=cast(str, rec["worker_id"]),
        t_ref=_opt_float(rec["t_ref"]),
        first_seen=_opt_float(rec["first_seen"]),
        last_seen=_opt_float(rec["last_seen"]),
        outcomes=(outcomes[0], outcomes[1], outcomes[2], outcomes[3]),
        n_quality=cast(int, rec["n_quality"]),
        n_payouts=cast(int, rec["n_payouts"]),
        credit=_pair(rec["credit"]),
        attempts=_pair(rec["attempts"]),
        q_sum=_pair(rec["q_sum"]),
        q_weight=_pair(rec["q_weight"]),
        q_total=_pair(rec["q_total"]) if "q_total" in rec else _long_memory(rec),
        payer_weight={k: float(v) for k, v in cast(dict[str, float], rec["payer_weight"]).items()},
        payers=frozenset(cast(list[str], rec["payers"])),
        paid={k: Decimal(v) for k, v in cast(dict[str, str], rec["paid"]).items()},
        wallets=dict(cast(dict[str, int], rec["wallets"])),
        ids=_ids(rec, identity, dedup),
        open_alerts=open_alerts,
        devices={k: float(v) for k, v in cast(dict[str, float], rec.get("devices", {})).items()},
        drift=(
            drift_state_from_record(cast(Mapping[str, object], rec["drift"]))
            if rec.get("drift") is not None
            else DriftState()
        ),
        identity=identity,
    )
