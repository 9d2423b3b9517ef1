"""Exact deduplication of event ids within an event-time window, in bounded memory.

A worker's state used to remember the id of every event ever applied, so it
grew without bound. `IdWindow` remembers only the ids of events whose event
time is at or after its ``horizon``:

* ``horizon = max(previous horizon, t - H)`` for every applied event at ``t``,
  where ``H`` is `DedupConfig.horizon_days` (150 days by default, more than a
  whole 120-day stream shuffled);
* at most `DedupConfig.max_ids` ids are kept: past that, the ids of the oldest
  event times go first and the horizon rises to the start of the oldest
  bucket still kept, so every event at or after the horizon is still checked
  exactly.

An event older than the horizon cannot be checked, so it is not applied: the
caller refuses it (``TOO_LATE``). For a stream whose disorder stays within the
horizon the result is the same whatever the order and however often an event
is delivered (the set of kept ids, and the horizon, only depend on the set of
events applied).

Ids are stored as ``bits``-bit fingerprints of `reputation.state.event_key`
(40 bits, 5 bytes, by default), grouped by 4-hour buckets of their event
time (``{bucket: sorted packed fingerprints}``), so expiry by time drops whole
buckets and no per-id time is stored. Two different events of the same bucket
with the same fingerprint look like one: a new event is taken for a duplicate
with probability about ``ids in its bucket / 2 ** bits`` (at most
``max_ids / 2 ** bits``, 1.4e-9 with the defaults; 4.5e-11 for a worker with
50 events in those 4 hours). Memory: ``bits / 8`` bytes per id, plus about 2
bytes per non-empty bucket: at most about 1536 * 5 + 2 * 1536 = 10.5 KiB,
7.5 KiB at 20 events a day.

The cap has a price: more than ``max_ids`` events of one worker within one
bucket (4 hours) cannot all be remembered; the bucket is forgotten whole and
the horizon passes it, so the rest of those 4 hours is refused (``TOO_LATE``).

Records written before the window (a plain set of 63-bit ids, no times) are
carried over as a ``legacy`` bucket, known only to hold events at or before
``legacy_until``; it is the first to go when the cap is reached.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from reputation.errors import ConfigError

__all__ = [
    "BUCKET_S",
    "DedupConfig",
    "IdWindow",
    "Verdict",
    "WindowBuilder",
    "from_legacy",
    "pack",
    "unpack",
]

#: Width of a time bucket of ids, in seconds of event time (4 hours: a few ids
#: per bucket at 20 events a day, so the bucket overhead stays small).
BUCKET_S: Final = 4 * 3600
_DAY_S: Final = 86_400.0
#: Width of the ids the fingerprints are cut from (`reputation.state.event_key`).
KEY_BITS: Final = 63

Verdict = Literal["new", "duplicate", "too_late"]


@dataclass(frozen=True, slots=True)
class DedupConfig:
    """How much of a worker's event history is checked for duplicates.

    ``horizon_days``: events older than the worker's latest event time minus
    this are refused (``TOO_LATE``) (VIGIL_DEDUP_HORIZON_DAYS). ``max_ids``:
    most event ids remembered per worker; past it the horizon rises
    (VIGIL_DEDUP_MAX_IDS). ``fingerprint_bits``: bits kept of each id (a
    multiple of 8; fewer bits, more false duplicates: see the module text)
    (VIGIL_DEDUP_FINGERPRINT_BITS). A worker's window keeps the width it was
    created with.
    """

    horizon_days: float = 150.0
    max_ids: int = 1536
    fingerprint_bits: int = 40

    def __post_init__(self) -> None:
        if not 0 < self.horizon_days <= 100_000:
            raise ConfigError(
                f"VIGIL_DEDUP_HORIZON_DAYS must be within (0, 100000], got {self.horizon_days}"
            )
        if not 16 <= self.max_ids <= 65_536:
            raise ConfigError(f"VIGIL_DEDUP_MAX_IDS must be within 16..65536, got {self.max_ids}")
        if self.fingerprint_bits % 8 or not 8 <= self.fingerprint_bits <= 56:
            raise ConfigError(
                "VIGIL_DEDUP_FINGERPRINT_BITS must be a multiple of 8 within 8..56, "
                f"got {self.fingerprint_bits}"
            )

    @property
    def horizon_s(self) -> float:
        """The horizon in seconds."""
        return self.horizon_days * _DAY_S


DEFAULT_DEDUP: Final = DedupConfig()


def pack(fps: Iterable[int], width: int) -> bytes:
    """Return fingerprints as sorted big-endian `width`-byte words.

    Examples
    --------
    >>> pack([3, 1], 2).hex(), unpack(pack([3, 1], 2), 2)
    ('00010003', [1, 3])
    """
    return b"".join(fp.to_bytes(width, "big") for fp in sorted(fps))


def unpack(blob: bytes, width: int) -> list[int]:
    """Return the fingerprints `pack` wrote."""
    return [int.from_bytes(blob[i : i + width], "big") for i in range(0, len(blob), width)]


@dataclass(frozen=True, slots=True)
class IdWindow:
    """The ids of the events a worker has applied since `horizon` (see the module text).

    ``buckets`` maps the bucket of event time (``floor(t / BUCKET_S)``) to the
    packed, sorted fingerprints of that bucket's ids; ``legacy`` holds the
    fingerprints of ids carried over from a record without times, all of
    events at or before ``legacy_until``. ``horizon`` is None until an event
    has been applied.
    """

    bits: int = DEFAULT_DEDUP.fingerprint_bits
    horizon: float | None = None
    buckets: Mapping[int, bytes] = field(default_factory=dict)
    legacy: bytes = b""
    legacy_until: float | None = None

    @property
    def width(self) -> int:
        """Bytes per fingerprint."""
        return self.bits // 8

    def __len__(self) -> int:
        """Return the number of ids remembered."""
        return (sum(len(b) for b in self.buckets.values()) + len(self.legacy)) // self.width


def from_legacy(keys: Iterable[int], until: float | None, cfg: DedupConfig) -> IdWindow:
    """Carry the 63-bit ids of an old record (no times) over into a window.

    Up to ``cfg.max_ids`` ids are kept (all events at or before `until`, the
    record's latest event time); more cannot be told apart by time, so they
    are dropped and the horizon moves just past `until`: an old event
    redelivered is then refused rather than counted twice.

    Examples
    --------
    >>> w = from_legacy([1 << 40, 2 << 40], 100.0, DedupConfig())
    >>> len(w), w.horizon
    (2, None)
    >>> many = [i << 23 for i in range(10_000)]  # 10,000 distinct 40-bit fingerprints
    >>> from_legacy(many, 100.0, DedupConfig()).horizon > 100.0
    True
    """
    shift = KEY_BITS - cfg.fingerprint_bits
    fps = {k >> shift for k in keys}
    if not fps:
        return IdWindow(cfg.fingerprint_bits)
    if until is None:  # ids but no time: nothing can be placed, refuse what came before
        until = 0.0
    if len(fps) > cfg.max_ids:
        return IdWindow(cfg.fingerprint_bits, math.nextafter(until, math.inf))
    return IdWindow(cfg.fingerprint_bits, None, {}, pack(fps, cfg.fingerprint_bits // 8), until)


class WindowBuilder:
    """Mutable working copy of an `IdWindow` while one batch is folded in.

    Only the buckets a batch touches are unpacked and packed again, so a
    batch costs the same whatever the length of the history.
    """

    __slots__ = (
        "_evict_order",
        "_legacy_set",
        "_sets",
        "bits",
        "buckets",
        "cfg",
        "count",
        "horizon",
        "legacy",
        "legacy_until",
        "shift",
        "width",
    )

    def __init__(self, w: IdWindow, cfg: DedupConfig = DEFAULT_DEDUP) -> None:
        self.cfg = cfg
        fresh = not w.buckets and not w.legacy
        self.bits = cfg.fingerprint_bits if fresh else w.bits
        self.width = self.bits // 8
        self.shift = KEY_BITS - self.bits
        self.horizon = w.horizon
        self.buckets = dict(w.buckets)
        self.legacy, self.legacy_until = w.legacy, w.legacy_until
        self.count = len(w) if not fresh else 0
        self._sets: dict[int, set[int]] = {}
        self._legacy_set: set[int] | None = None
        self._evict_order: list[int] | None = None

    def _bucket(self, b: int) -> set[int]:
        s = self._sets.get(b)
        if s is None:
            s = set(unpack(self.buckets.get(b, b""), self.width))
            self._sets[b] = s
            if b not in self.buckets:
                self.buckets[b] = b""
                if self._evict_order is not None:
                    bisect.insort(self._evict_order, b)
        return s

    def add(self, key: int, t: float) -> Verdict:
        """Check event `key` at event time `t` and remember it; say what it was."""
        if self.horizon is not None and t < self.horizon:
            return "too_late"
        fp = key >> self.shift
        if self.legacy and self.legacy_until is not None and t <= self.legacy_until:
            if self._legacy_set is None:
                self._legacy_set = set(unpack(self.legacy, self.width))
            if fp in self._legacy_set:
                return "duplicate"
        bucket = self._bucket(math.floor(t / BUCKET_S))
        if fp in bucket:
            return "duplicate"
        bucket.add(fp)
        self.count += 1
        floor = t - self.cfg.horizon_s
        if self.horizon is None or floor > self.horizon:
            self._raise(floor)
        while self.count > self.cfg.max_ids:
            self._evict_oldest()
        return "new"

    def _raise(self, horizon: float) -> None:
        """Move the horizon up to `horizon` and forget what lies wholly before it."""
        if self.horizon is not None and horizon <= self.horizon:
            return
        self.horizon = horizon
        if self.legacy and self.legacy_until is not None and self.legacy_until < horizon:
            self._drop_legacy()
        limit = math.floor(horizon / BUCKET_S)  # buckets below this end at or before the horizon
        order = self._order()
        while order and order[0] < limit:
            self._drop(order[0])

    def _order(self) -> list[int]:
        if self._evict_order is None:
            self._evict_order = sorted(self.buckets)
        return self._evict_order

    def _drop(self, b: int) -> None:
        order = self._order()
        if order[0] == b:
            order.pop(0)
        else:
            order.remove(b)
        s = self._sets.pop(b, None)
        n = len(s) if s is not None else len(self.buckets[b]) // self.width
        del self.buckets[b]
        self.count -= n

    def _drop_legacy(self) -> None:
        self.count -= len(self.legacy) // self.width
        self.legacy, self._legacy_set = b"", None
        until = self.legacy_until
        self.legacy_until = None
        if until is not None:
            self._raise(math.nextafter(until, math.inf))

    def _evict_oldest(self) -> None:
        """Forget the oldest ids (legacy ones first) and raise the horizon past them."""
        if self.legacy:
            self._drop_legacy()
            return
        oldest = self._order()[0]
        self._drop(oldest)
        self._raise(float((oldest + 1) * BUCKET_S))

    def freeze(self) -> IdWindow:
        """Return the window as it now stands."""
        buckets = dict(self.buckets)
        for b, s in self._sets.items():
            if b in buckets:
                buckets[b] = pack(s, self.width)
        buckets = {b: v for b, v in buckets.items() if v}
        return IdWindow(self.bits, self.horizon, buckets, self.legacy, self.legacy_until)
