"""Independent checks of simulator output: a small contract validator and a transfer graph.

Written from CONTRACT.md, not from the simulator's code, so that the tests do
not just replay the generator's own assumptions.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import cache

from eth_utils.address import to_checksum_address

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_TX = re.compile(r"0x[0-9a-fA-F]{64}")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"


def ts(text: str) -> int:
    """Unix seconds of an RFC 3339 time."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp())


def address_ok(value: object) -> bool:
    """0x + 40 hex, all lower/upper case or a correct EIP-55 checksum."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        return False
    body = value[2:]
    if body == body.lower() or body == body.upper():
        return True
    return _checksum(value.lower()) == value


@cache
def _checksum(address: str) -> str:
    return str(to_checksum_address(address))


def _time_ok(value: object) -> bool:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _decimal_ok(value: object) -> bool:
    return isinstance(value, str) and bool(_DECIMAL.fullmatch(value))


def _number(value: object) -> float | None:
    """The value as a float if it is a JSON number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count(value: object, minimum: int) -> bool:
    return type(value) is int and value >= minimum


def _id_ok(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 128


def problems(topic: str, e: Mapping[str, object]) -> list[str]:
    """Return what is wrong with an event according to CONTRACT.md (empty: valid)."""
    out: list[str] = []

    def need(field: str, ok: bool) -> None:
        if not ok:
            out.append(f"{topic}.{field}: {e.get(field)!r}")

    need("event_id", _id_ok(e.get("event_id")))
    if topic == "tasks":
        for f in ("worker_id", "payer_id", "task_id"):
            need(f, _id_ok(e.get(f)))
        need("outcome", e.get("outcome") in ("accepted", "rejected", "late", "abandoned"))
        need("assigned_at", _time_ok(e.get("assigned_at")))
        need("completed_at", _time_ok(e.get("completed_at")))
        if not out:
            need("completed_at", ts(str(e["completed_at"])) >= ts(str(e["assigned_at"])))
        reward = e.get("reward")
        if reward is not None:
            ok = isinstance(reward, dict) and _decimal_ok(reward.get("amount"))
            need("reward", ok and isinstance(reward.get("asset"), str))
        ctx = e.get("context")
        if ctx is not None:
            if not isinstance(ctx, dict):
                need("context", False)
            else:
                off = ctx.get("utc_offset_min")
                need("context", off is None or (type(off) is int and -840 <= off <= 840))
                asn = ctx.get("ip_asn")
                need("context", asn is None or (type(asn) is int and asn > 0))
                c = ctx.get("country")
                need("context", c is None or (isinstance(c, str) and len(c) == 2 and c.isupper()))
                d = ctx.get("device_id")
                need("context", d is None or _id_ok(d))
    elif topic == "quality":
        for f in ("worker_id", "task_id", "scorer_id"):
            need(f, _id_ok(e.get(f)))
        score = _number(e.get("score"))
        need("score", score is not None and 0.0 <= score <= 1.0)
        weight = _number(e.get("weight", 1.0))
        need("weight", weight is not None and weight > 0)
        need("scored_at", _time_ok(e.get("scored_at")))
    elif topic == "payouts":
        for f in ("worker_id", "payer_id"):
            need(f, _id_ok(e.get(f)))
        need("wallet", address_ok(e.get("wallet")))
        need("chain_id", _count(e.get("chain_id"), 1))
        need("asset", isinstance(e.get("asset"), str))
        need("amount", _decimal_ok(e.get("amount")))
        tx = e.get("tx_hash")
        need("tx_hash", tx is None or (isinstance(tx, str) and bool(_TX.fullmatch(tx))))
        need("paid_at", _time_ok(e.get("paid_at")))
    elif topic == "transfers":
        tx, log = e.get("tx_hash"), e.get("log_index")
        need("tx_hash", isinstance(tx, str) and bool(_TX.fullmatch(tx)))
        need("log_index", _count(log, 0))
        need("chain_id", _count(e.get("chain_id"), 1))
        need("event_id", e.get("event_id") == f"{e.get('chain_id')}:{tx}:{log}")
        need("block_number", _count(e.get("block_number"), 0))
        need("block_time", _time_ok(e.get("block_time")))
        need("from", address_ok(e.get("from")))
        need("to", address_ok(e.get("to")))
        amount = e.get("amount")
        need("amount", isinstance(amount, str) and amount.isdigit())
        token, decimals = e.get("token"), e.get("decimals")
        need("token", (token, decimals) in ((USDC, 6), ("ETH", 18)))
    elif topic == "sanctions":
        need("address", address_ok(e.get("address")))
        for f in ("program", "entity"):
            need(f, isinstance(e.get(f), str) and bool(e.get(f)))
        need("listed_at", _time_ok(e.get("listed_at")))
        need("source", e.get("source") == "OFAC SDN")
        need("delisted", isinstance(e.get("delisted"), bool))
    else:
        out.append(f"unknown topic {topic!r}")
    return out


class TransferGraph:
    """Directed graph of transfers (lower-case addresses), with hop distances."""

    def __init__(self, transfers: Iterable[Mapping[str, object]]) -> None:
        self.out: dict[str, set[str]] = {}
        self.into: dict[str, set[str]] = {}
        for t in transfers:
            a, b = str(t["from"]).lower(), str(t["to"]).lower()
            self.out.setdefault(a, set()).add(b)
            self.into.setdefault(b, set()).add(a)

    def _bfs(self, starts: set[str], edges: dict[str, set[str]], avoid: set[str]) -> dict[str, int]:
        dist = {s: 0 for s in starts}
        queue = deque(starts)
        while queue:
            node = queue.popleft()
            if node in avoid and dist[node] > 0:
                continue  # a service address ends a path: funds there are pooled
            for nxt in edges.get(node, ()):
                if nxt not in dist:
                    dist[nxt] = dist[node] + 1
                    queue.append(nxt)
        return dist

    def hops(self, listed: set[str], wallet: str, avoid: set[str]) -> tuple[int | None, int | None]:
        """Return (listed -> wallet, wallet -> listed) directed hop counts, None if unreachable."""
        forward = self._bfs(listed, self.out, avoid)
        backward = self._bfs(listed, self.into, avoid)
        return forward.get(wallet), backward.get(wallet)
