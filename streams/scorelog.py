"""Every worker's latest trust record and score history, as every engine process sees them.

Each process reads all of ``{prefix}scores`` from the beginning with its own
consumer (no consumer group, nothing committed), like `streams.alertlog`, and
keeps in memory the latest record of each worker and a bounded history of
(time, score, confidence, band) points: the dashboard's overview
(``GET /overview``) and its score plot (``GET /workers/{id}/history``) come from
here, so any process answers for every worker.

A history holds at most `DashboardConfig.history_points` points; when full,
every other point of its older half is dropped (`thin`), so the plot keeps
spanning the worker's whole life, with coarser detail the older it is. Points
are placed by the record's ``as_of`` (event time): a re-emitted record for the
same time replaces its point. Scores and confidences are kept as 32-bit floats
(about 7 significant digits), which is plenty for a plot.

``{prefix}scores`` is compacted: a process that starts after Kafka has compacted
a segment sees only what is left of it (at least each worker's latest record),
so a restart can show a shorter history than the process had before.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import logging
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from config.settings import DashboardConfig, Settings
from reputation.assess import BANDS, reason_text
from reputation.errors import InvalidEventError
from reputation.events import format_time, parse_time
from streams.follow import follow_topics

__all__ = [
    "HISTOGRAM_BINS",
    "RISK_ORDER",
    "ScoreLog",
    "histogram_bin",
    "histogram_edges",
    "risk_key",
    "thin",
]

log = logging.getLogger(__name__)

#: Bins of the score histogram over 0..1 (width 0.1).
HISTOGRAM_BINS = 10
#: How risky a band is for the riskiest-workers list: lower comes first.
RISK_ORDER: Mapping[str, int] = {"blocked": 0, "review": 1}
_BAND_INDEX = {band: i for i, band in enumerate(BANDS)}


def histogram_edges(bins: int = HISTOGRAM_BINS) -> list[float]:
    """Return the bin edges of the score histogram, 0.0 to 1.0.

    Examples
    --------
    >>> histogram_edges(4)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    return [round(i / bins, 10) for i in range(bins + 1)]


def histogram_bin(score: float, bins: int = HISTOGRAM_BINS) -> int:
    """Return the histogram bin of a score; bins are half-open, the last one closed.

    Examples
    --------
    >>> histogram_bin(0.0), histogram_bin(0.1), histogram_bin(0.999), histogram_bin(1.0)
    (0, 1, 9, 9)
    """
    # A small epsilon so that 0.3 (0.29999...96 * 10) lands where a person expects.
    return min(max(int(score * bins + 1e-9), 0), bins - 1)


def risk_key(band: str, score: float, worker_id: str) -> tuple[int, float, str]:
    """Order workers riskiest first: blocked, then review, then the lowest score.

    Examples
    --------
    >>> rows = [("standard", 0.3, "a"), ("review", 0.45, "b"), ("blocked", 0.05, "c")]
    >>> [w for _, _, w in sorted(rows, key=lambda r: risk_key(*r))]
    ['c', 'b', 'a']
    """
    return (RISK_ORDER.get(band, len(RISK_ORDER)), score, worker_id)


def thin(n: int) -> list[int]:
    """Return the indices kept when a full history of `n` points is thinned.

    Every other point of the older half goes (the oldest point stays, so the plot
    still starts at the worker's first record); the newer half stays whole.

    Examples
    --------
    >>> thin(8)
    [0, 2, 4, 5, 6, 7]
    >>> len(thin(240))
    180
    """
    half = n // 2
    return list(range(0, half, 2)) + list(range(half, n))


class _History:
    """One worker's latest record (raw JSON) and its points in compact arrays."""

    __slots__ = ("at", "band", "confidence", "latest", "score")

    def __init__(self) -> None:
        self.latest = b""
        self.at = array("d")  # POSIX seconds, ascending
        self.score = array("f")
        self.confidence = array("f")
        self.band = bytearray()  # index into BANDS

    def put(self, at: float, score: float, confidence: float, band: int, max_points: int) -> None:
        """Add a point in time order; a point at the same time replaces the old one."""
        i = bisect.bisect_left(self.at, at)
        if i < len(self.at) and self.at[i] == at:
            self.score[i], self.confidence[i], self.band[i] = score, confidence, band
            return
        if len(self.at) >= max_points:
            keep = thin(len(self.at))
            self.at = array("d", (self.at[k] for k in keep))
            self.score = array("f", (self.score[k] for k in keep))
            self.confidence = array("f", (self.confidence[k] for k in keep))
            self.band = bytearray(self.band[k] for k in keep)
            i = bisect.bisect_left(self.at, at)
        self.at.insert(i, at)
        self.score.insert(i, score)
        self.confidence.insert(i, confidence)
        self.band.insert(i, band)


@dataclass(frozen=True, slots=True)
class _Latest:
    """What the overview needs of a worker's latest record, without decoding it."""

    score: float
    band: str


@dataclass
class ScoreLog:
    """The in-memory view of ``{prefix}scores``; `run` keeps it current.

    Parameters
    ----------
    settings
        The process's settings: Kafka for `run`, `DashboardConfig` for the bounds.

    Examples
    --------
    >>> log = ScoreLog(Settings())
    >>> for day, score in [(1, 0.7), (2, 0.6), (3, 0.2)]:
    ...     ok = log.add_record({"worker_id": "w-1", "as_of": f"2026-11-0{day}T00:00:00Z",
    ...                          "score": score, "confidence": 0.5, "band": "standard"})
    >>> [p["score"] for p in log.history("w-1")]
    [0.7, 0.6, 0.2]
    >>> log.overview({}, limit=5)["score_histogram"]["counts"][2]
    1
    """

    settings: Settings
    histories: OrderedDict[str, _History] = field(default_factory=OrderedDict)
    latest: dict[str, _Latest] = field(default_factory=dict)
    band_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BANDS, 0))
    score_counts: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_BINS)
    evicted: int = 0
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def config(self) -> DashboardConfig:
        """The dashboard's bounds."""
        return self.settings.dashboard

    def add_record(self, record: Mapping[str, Any], raw: bytes | None = None) -> bool:
        """Take a ``vigil.scores`` record; return False (and log) for a malformed one."""
        try:
            worker_id = record["worker_id"]
            at = parse_time(record["as_of"], "as_of").timestamp()
            score, confidence = float(record["score"]), float(record["confidence"])
            band = _BAND_INDEX[record["band"]]
            if not isinstance(worker_id, str) or not worker_id:
                raise TypeError("worker_id must be a non-empty string")
        except (KeyError, TypeError, ValueError, InvalidEventError) as exc:
            log.warning("score log: skipped a malformed record (%s)", exc)
            return False
        history = self.histories.get(worker_id)
        if history is None:
            history = self.histories[worker_id] = _History()
            self._evict()
        else:
            self.histories.move_to_end(worker_id)
        history.put(at, score, confidence, band, self.config.history_points)
        if history.at[-1] == at:  # the newest point: this record is the worker's latest
            history.latest = raw if raw is not None else orjson.dumps(record)
            self._count(worker_id, _Latest(score, BANDS[band]))
        return True

    def history(self, worker_id: str) -> list[dict[str, Any]] | None:
        """Return a worker's points, oldest first, or None for a worker not seen."""
        h = self.histories.get(worker_id)
        if h is None:
            return None
        return [
            {
                "at": format_time(datetime.fromtimestamp(h.at[i], UTC)),
                "score": round(h.score[i], 6),
                "confidence": round(h.confidence[i], 6),
                "band": BANDS[h.band[i]],
            }
            for i in range(len(h.at))
        ]

    def record(self, worker_id: str) -> dict[str, Any] | None:
        """Return a worker's latest record as published, or None."""
        h = self.histories.get(worker_id)
        if h is None or not h.latest:
            return None
        rec: dict[str, Any] = orjson.loads(h.latest)
        return rec

    def overview(
        self,
        open_alerts: Mapping[str, int],
        limit: int = 20,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Return ``GET /overview``: band counts, score histogram and the riskiest workers.

        `open_alerts` counts the open alerts naming each worker (from the alert log).
        """
        riskiest = heapq.nsmallest(
            limit,
            self.latest.items(),
            key=lambda kv: risk_key(kv[1].band, kv[1].score, kv[0]),
        )
        rows = []
        for worker_id, _ in riskiest:
            rec = self.record(worker_id) or {}
            rows.append(
                {
                    "worker_id": worker_id,
                    "score": rec.get("score"),
                    "band": rec.get("band"),
                    "confidence": rec.get("confidence"),
                    "reasons": list(rec.get("reasons", [])),
                    # Every number shown to a person comes with its reasons in words.
                    "reason_text": {code: reason_text(code) for code in rec.get("reasons", [])},
                    "open_alerts": open_alerts.get(worker_id, 0),
                }
            )
        return {
            "workers": len(self.latest),
            "bands": dict(self.band_counts),
            "score_histogram": {"edges": histogram_edges(), "counts": list(self.score_counts)},
            "riskiest": rows,
            "as_of": format_time((now or datetime.now(UTC)).replace(microsecond=0)),
        }

    def _count(self, worker_id: str, new: _Latest) -> None:
        old = self.latest.get(worker_id)
        if old is not None:
            self.band_counts[old.band] -= 1
            self.score_counts[histogram_bin(old.score)] -= 1
        self.latest[worker_id] = new
        self.band_counts[new.band] += 1
        self.score_counts[histogram_bin(new.score)] += 1

    def _evict(self) -> None:
        while len(self.histories) > self.config.max_workers:
            worker_id, _ = self.histories.popitem(last=False)
            old = self.latest.pop(worker_id, None)
            if old is not None:
                self.band_counts[old.band] -= 1
                self.score_counts[histogram_bin(old.score)] -= 1
            if self.evicted == 0:
                log.warning(
                    "score log: more than VIGIL_DASHBOARD_MAX_WORKERS=%d workers; the least "
                    "recently updated are no longer shown on the dashboard",
                    self.config.max_workers,
                )
            self.evicted += 1

    def add_raw(self, values: Iterable[bytes | None]) -> None:
        """Take raw ``vigil.scores`` values (tombstones and non-JSON are skipped)."""
        for value in values:
            if not value:
                continue
            try:
                record = orjson.loads(value)
            except orjson.JSONDecodeError:
                log.warning("score log: skipped a record that is not JSON")
                continue
            if isinstance(record, dict):
                self.add_record(record, value)

    async def run(self) -> None:
        """Follow ``{prefix}scores`` from the beginning until cancelled."""
        kafka = self.settings.kafka

        def handle(topic: str, values: list[bytes | None]) -> None:
            self.add_raw(values)

        await follow_topics(kafka, (kafka.topic("scores"),), "score log", handle, self.caught_up)
