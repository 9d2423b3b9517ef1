"""A broker outage, for real: the engine logs it once, says so on /readyz and /metrics.

Issue 15: a 3 s outage wrote about 2,300 ERROR lines. This test stops its own
broker (not the session's) under a running ``vigil worker``, waits until
``/readyz`` and ``vigil_broker_up`` say it is gone, keeps it down 3 s more and
starts it again (stop and start take several seconds each on a loaded machine,
so the engine sees an outage of 10-20 s). Then it checks that events produced
after the outage are applied and scored, and counts the engine's warning and
error lines from the stop until then: one when the broker is lost, one when it
is back, and at most two others (each client logs thousands without the
filter of `streams.logs.BrokerOutageFilter`).
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.conftest import BROKER_PORT
from tests.helpers.events import make_events
from tests.helpers.kafka import ensure_single_broker
from tests.integration.conftest import Stack, http, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

PORT = 16081
#: Faust's text lines (``[time] [pid] [LEVEL] ...``) and Vigil's JSON or plain ones.
_NOISY = re.compile(r"\[(WARNING|ERROR|CRITICAL)\]|\b(WARNING|ERROR|CRITICAL)\b")


def _applied(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:  # noqa: S310
        text = r.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("vigil_events_total{") and 'result="applied"' in line
    )


def _ready(port: int) -> bool:
    return http("GET", f"http://127.0.0.1:{port}/readyz")[0] == 200


def _scores(port: int) -> float:
    return _metric(port, "vigil_scores_emitted_total") or 0.0


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:  # noqa: S310
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except (urllib.error.URLError, OSError):
        return None
    return None


def test_issue_15_broker_outage_logs_once(tmp_path: Path) -> None:
    broker = ensure_single_broker(BROKER_PORT + 20, tmp_path / "kafka")
    try:
        stack = Stack(broker.bootstrap, tmp_path)
        stack.create_topics()
        events = make_events(50, 600, seed=3)
        stack.produce([(t, str(e["worker_id"]).encode(), orjson.dumps(e)) for t, e in events[:300]])
        engine = stack.start_engine("engine", PORT)
        try:
            wait_until(lambda: _applied(PORT) >= 300, 120, "the first events applied")
            wait_until(lambda: _ready(PORT), 60, "/readyz 200")
            assert _metric(PORT, "vigil_broker_up") == 1.0
            scored = _scores(PORT)
            assert scored > 0
            log = tmp_path / "engine.log"
            mark = len(log.read_bytes())

            broker.stop()
            # The engine notices within its probe's interval and timeout.
            seen: dict[str, object] = {}

            def says_down() -> bool:
                status, body = http("GET", f"http://127.0.0.1:{PORT}/readyz")
                seen["readyz"] = (status, body)
                return status == 503 and _metric(PORT, "vigil_broker_up") == 0.0

            wait_until(says_down, 30, "/readyz and vigil_broker_up to say the broker is gone", 0.5)
            assert seen["readyz"] == (503, {"ready": False, "broker": "unreachable"})
            time.sleep(3)
            broker.start()

            stack.produce(
                [(t, str(e["worker_id"]).encode(), orjson.dumps(e)) for t, e in events[300:]]
            )
            wait_until(lambda: _applied(PORT) >= 600, 180, "events after the outage applied")
            wait_until(lambda: _scores(PORT) > scored, 60, "scores after the outage emitted")
            wait_until(lambda: _ready(PORT), 60, "/readyz 200")
            assert _metric(PORT, "vigil_broker_up") == 1.0
            time.sleep(2)
            assert engine.poll() is None
            lines = log.read_bytes()[mark:].decode(errors="replace").splitlines()
            noisy = [line for line in lines if _NOISY.search(line)]
            report = f"{len(lines)} lines since the stop; first warnings and errors:\n" + "\n".join(
                noisy[:40]
            )
            assert sum("Kafka broker unreachable" in line for line in noisy) == 1, report
            assert sum("Kafka broker reachable again" in line for line in noisy) == 1, report
            assert len(noisy) <= 4, f"{len(noisy)} warning/error lines:\n{report}"
        finally:
            stack.stop(engine)
    finally:
        broker.stop()
