"""Deliberately invalid events for dead-letter tests (only with ``--invalid-rate`` > 0).

Each invalid event is a mutated copy of a valid one with a fresh ``event_id``
(``bad-<n>``, or a fresh tx hash for transfers), added next to the original, so
the valid stream and the ground truth are the same with or without them.
"""

from __future__ import annotations

import random

from sim.addresses import checksum, derive_tx_hash
from sim.events import Event, JSONObject, make_event
from sim.rng import seeded

#: Mutations per topic: (reason, function that breaks a copy of the payload).
_TASK_BREAKS = ("missing worker_id", "unknown outcome", "time without offset", "bad reward amount")
_QUALITY_BREAKS = ("score out of range", "non-positive weight", "missing score")
_PAYOUT_BREAKS = ("bad address checksum", "money as a number", "missing wallet")
_TRANSFER_BREAKS = ("bad address checksum", "short tx hash", "missing to")
_SANCTION_BREAKS = ("short address",)


def _bad_checksum(address: str) -> str:
    mixed = checksum(address.lower())
    for i in range(2, len(mixed)):
        if mixed[i].isalpha():
            flipped = mixed[i].lower() if mixed[i].isupper() else mixed[i].upper()
            return mixed[:i] + flipped + mixed[i + 1 :]
    return "0x" + "G" * 40  # all-digit address: not hex at all


def _break(
    topic: str, payload: JSONObject, n: int, seed: int, rng: random.Random
) -> tuple[JSONObject, str] | None:
    bad = dict(payload)
    if topic == "tasks":
        reason = _TASK_BREAKS[rng.randrange(len(_TASK_BREAKS))]
        if reason == "missing worker_id":
            del bad["worker_id"]
        elif reason == "unknown outcome":
            bad["outcome"] = "done"
        elif reason == "time without offset":
            bad["completed_at"] = str(bad["completed_at"]).rstrip("Z")
        else:
            bad["reward"] = {"amount": "12.5.0", "asset": "USDC"}
    elif topic == "quality":
        reason = _QUALITY_BREAKS[rng.randrange(len(_QUALITY_BREAKS))]
        if reason == "score out of range":
            bad["score"] = 1.7
        elif reason == "non-positive weight":
            bad["weight"] = 0
        else:
            del bad["score"]
    elif topic == "payouts":
        reason = _PAYOUT_BREAKS[rng.randrange(len(_PAYOUT_BREAKS))]
        if reason == "bad address checksum":
            bad["wallet"] = _bad_checksum(str(bad["wallet"]))
        elif reason == "money as a number":
            bad["amount"] = float(str(bad["amount"]))
        else:
            del bad["wallet"]
    elif topic == "transfers":
        reason = _TRANSFER_BREAKS[rng.randrange(len(_TRANSFER_BREAKS))]
        tx = derive_tx_hash(seed, f"invalid:{n}")
        bad["tx_hash"] = tx
        if reason == "bad address checksum":
            bad["from"] = _bad_checksum(str(bad["from"]))
        elif reason == "short tx hash":
            bad["tx_hash"] = tx = tx[:40]
        else:
            del bad["to"]
        bad["event_id"] = f"{bad['chain_id']}:{tx}:{bad['log_index']}"
        return bad, reason
    elif topic == "sanctions":
        bad["address"] = str(bad["address"])[:20]
        reason = _SANCTION_BREAKS[0]
    else:
        return None
    bad["event_id"] = f"bad-{n}"
    return bad, reason


def add_invalid_events(
    events: list[Event], rate: float, seed: int
) -> tuple[list[Event], dict[str, str]]:
    """Return the events with invalid copies added, and ``{event_id: reason}`` of the copies.

    Parameters
    ----------
    events
        Valid events, any order.
    rate
        Probability per valid event of adding a broken copy of it.
    seed
        Run seed (a separate stream: the valid events do not change).

    Examples
    --------
    >>> ev = make_event(0, "quality", "w-1", {"event_id": "q-1", "score": 0.5})
    >>> out, reasons = add_invalid_events([ev] * 50, 0.1, seed=1)
    >>> len(out) - 50 == len(reasons) > 0
    True
    """
    if rate <= 0.0:
        return events, {}
    rng = seeded(f"{seed}:invalid")
    out = list(events)
    reasons: dict[str, str] = {}
    for event in events:
        if rng.random() >= rate:
            continue
        broken = _break(event.topic, event.payload, len(reasons) + 1, seed, rng)
        if broken is None:
            continue
        payload, reason = broken
        key = event.key if "worker_id" in payload or event.topic != "tasks" else None
        out.append(make_event(event.ts, event.topic, key, payload))
        reasons[str(payload["event_id"])] = reason
    return out, reasons
