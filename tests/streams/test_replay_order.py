"""Issue 11: final scores, bands and alerts are a function of the set of events.

A whole simulated platform (every kind of worker, the chain and the sanctions
lists) is replayed in event-time order, then fully shuffled (every topic) in
small batches, then shuffled with 10 % of its events delivered twice. The final
trust records must agree to 1e-9 and the alerts that stand must be the same
(type, worker or wallet, ``detected_at``).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.settings import load_settings
from reputation.assess import assess
from sim.config import SimConfig
from sim.generate import simulate
from sim.output import encode_line, load_sanctions_lists
from streams.replay import ReplayResult, replay_files

pytestmark = pytest.mark.slow


def _alert_set(result: ReplayResult) -> set[tuple[str, str | None, str | None, str]]:
    return {(a.type, a.worker_id, a.wallet, a.detected_at.isoformat()) for a in result.standing()}


def _finals(result: ReplayResult, at: datetime) -> dict[str, dict[str, object]]:
    settings = load_settings({})
    out = {}
    for worker_id, state in result.states.items():
        rec = assess(settings.model, state, at)
        out[worker_id] = {"score": rec.score, "band": rec.band, "flags": sorted(rec.flags)}
    return out


@pytest.mark.parametrize("seed", [3, 8])
def test_shuffled_and_redelivered_platform_ends_the_same(tmp_path: Path, seed: int) -> None:
    run = simulate(SimConfig(seed=seed, workers=90, days=40), load_sanctions_lists())
    lines = [encode_line(e) for e in run.events]
    rnd = random.Random(seed)
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    doubled = shuffled + rnd.sample(shuffled, len(shuffled) // 10)
    rnd.shuffle(doubled)
    paths = {}
    for name, content in (("sorted", lines), ("shuffled", shuffled), ("doubled", doubled)):
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_bytes(b"".join(content))
    settings = load_settings({})
    end = datetime.fromisoformat(str(run.truth["end"]).replace("Z", "+00:00"))
    now = end + timedelta(days=2)
    clock = lambda: now  # noqa: E731
    reference = replay_files(settings, [paths["sorted"]], clock=clock, progress=False)
    at = end.astimezone(UTC) + timedelta(days=1)
    want_scores, want_alerts = _finals(reference, at), _alert_set(reference)
    assert want_alerts, "the platform raises alerts"
    for name in ("shuffled", "doubled"):
        got = replay_files(
            settings, [paths[name]], clock=clock, progress=False, order="file", chunk_size=700
        )
        assert _alert_set(got) == want_alerts, name
        scores = _finals(got, at)
        assert scores.keys() == want_scores.keys()
        for w, rec in want_scores.items():
            assert scores[w]["band"] == rec["band"], (name, w)
            assert scores[w]["flags"] == rec["flags"], (name, w)
            assert abs(float(scores[w]["score"]) - float(rec["score"])) <= 1e-9, (name, w)  # type: ignore[arg-type]
