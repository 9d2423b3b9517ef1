"""Which JSON decoder for the hot path: stdlib json vs orjson vs msgspec (decode only).

Validation (`reputation.events.parse_*`) is the same for all three; only bytes ->
dict differs. Prints each decoder's rate and its ratio to the stdlib baseline,
measured in the same run.

    .venv/bin/python bench/decode.py
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reputation.events import decode_event  # noqa: E402
from tests.helpers.events import make_events  # noqa: E402


def rate(fn: Callable[[], None], n: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> int:
    events = [(t, orjson.dumps(e)) for t, e in make_events(2000, 30_000, seed=3)]
    n = len(events)
    loaders: dict[str, Callable[[bytes], object]] = {
        "json (stdlib)": json.loads,
        "orjson": orjson.loads,
    }
    try:
        import msgspec

        loaders["msgspec (untyped)"] = msgspec.json.decode
    except ImportError:
        pass
    print("| decoder | decode only ev/s | ratio | decode + validate ev/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    base_raw = base_full = 0.0
    for name, loads in loaders.items():
        raw = rate(lambda loads=loads: [loads(b) for _, b in events] and None, n)
        full = rate(
            lambda loads=loads: [decode_event(t, b, loads=loads) for t, b in events] and None, n
        )
        if not base_raw:
            base_raw, base_full = raw, full
        print(
            f"| {name} | {raw:,.0f} | {raw / base_raw:.2f} | {full:,.0f} | {full / base_full:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
