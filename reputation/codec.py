"""Versioned JSON records for table values (``{"v": 1, ...}``); never pickle.

The record is a plain ``dict`` so that the caller picks the JSON library (the
engine uses orjson). Floats survive the round trip exactly (shortest repr),
money travels as decimal strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import cast

from reputation.drift.codec import drift_state_from_record, drift_state_to_record
from reputation.drift.state import DriftState
from reputation.errors import UnknownRecordVersionError
from reputation.identity import AttributeSeen, DeviceSeen, IdentityState, VerdictSeen
from reputation.state import WorkerState

__all__ = ["STATE_VERSION", "UnknownRecordVersionError", "state_from_record", "state_to_record"]

STATE_VERSION = 3
#: Versions this build reads (v1 had ``flags`` and no alert ids or devices, v2 no identity).
_READABLE = (1, 2, 3)


def state_to_record(s: WorkerState) -> dict[str, object]:
    """Return the JSON-ready record of a worker state.

    Examples
    --------
    >>> rec = state_to_record(WorkerState("w-1"))
    >>> rec["v"], state_from_record(rec) == WorkerState("w-1")
    (3, True)
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
        "applied": sorted(s.applied),
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


def state_from_record(rec: Mapping[str, object]) -> WorkerState:
    """Return the worker state of a record written by `state_to_record`."""
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
        applied=frozenset(cast(list[int], rec["applied"])),
        open_alerts=open_alerts,
        devices={k: float(v) for k, v in cast(dict[str, float], rec.get("devices", {})).items()},
        drift=(
            drift_state_from_record(cast(Mapping[str, object], rec["drift"]))
            if rec.get("drift") is not None
            else DriftState()
        ),
        identity=(
            identity_from_record(cast(Mapping[str, object], rec["identity"]))
            if rec.get("identity") is not None
            else IdentityState()
        ),
    )
