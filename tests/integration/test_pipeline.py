"""The trust pipeline end to end: real Kafka, `vigil worker` processes, `vigil replay`."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from typing import Any

import orjson
import pytest

from config.settings import load_settings
from reputation.events import Address
from streams.links import LinkProcessor
from streams.replay import replay_files
from tests.helpers.events import MALFORMED, make_events, standing_alerts
from tests.helpers.kafka import KafkaBroker, KafkaScriptError
from tests.integration.conftest import Stack, http, wait_until
from tests.reputation.test_state import assert_close

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Message = tuple[str, bytes | None, bytes]


def build_input(
    n_workers: int, n_events: int, seed: int = 1
) -> tuple[list[Message], list[Message]]:
    """Valid messages (with some redelivered twice) and the malformed ones."""
    events = make_events(n_workers, n_events, seed)
    valid: list[Message] = [(t, str(e["worker_id"]).encode(), orjson.dumps(e)) for t, e in events]
    valid = valid + valid[100:400]  # redeliveries: must count once
    malformed: list[Message] = [(t, b"w-0", raw) for t, raw, _ in MALFORMED]
    return valid, malformed


def replay_scores(stack: Stack, valid: list[Message]) -> dict[str, dict[str, object]]:
    path = stack.workdir / "events.jsonl"
    with path.open("wb") as fh:
        for topic, _, raw in valid:
            fh.write(orjson.dumps({"topic": topic, "event": orjson.loads(raw)}) + b"\n")
    scores, alerts = stack.workdir / "scores.jsonl", stack.workdir / "alerts.jsonl"
    stack.vigil("replay", str(path), "--scores", str(scores), "--alerts", str(alerts), "--quiet")
    out = {}
    for line in scores.read_bytes().splitlines():
        rec = orjson.loads(line)
        out[rec["worker_id"]] = rec
    return out


def wait_for_scores(
    stack: Stack, expected: dict[str, dict[str, object]], timeout_s: float = 240
) -> None:
    last: dict[str, dict[str, object]] = {}

    def done() -> bool:
        nonlocal last
        last = stack.latest_scores()
        return last.keys() == expected.keys() and all(
            last[w]["as_of"] == expected[w]["as_of"]
            and last[w]["evidence"] == expected[w]["evidence"]
            for w in expected
        )

    try:
        wait_until(done, timeout_s, "vigil.scores to match vigil replay", interval_s=2.0)
    finally:
        missing = expected.keys() - last.keys()
        if missing:
            print(f"{len(missing)} workers without scores, e.g. {sorted(missing)[:5]}")
    assert_close(last, expected)


def check_dead_letters(stack: Stack, n_expected: int) -> None:
    letters = [orjson.loads(v) for _, v, _, _ in stack.read_all("deadletters")]
    assert len(letters) == n_expected
    assert sorted(d["reason"] for d in letters) == sorted(r for _, _, r in MALFORMED)
    for d in letters:
        assert d["source_topic"].startswith(stack.prefix)
        assert isinstance(d["partition"], int) and isinstance(d["offset"], int)
        assert d["error"] and ":" in d["error"]
        raw = next(raw for _, raw, reason in MALFORMED if reason == d["reason"])
        assert d["payload"] == raw.decode("utf-8", errors="replace")[:4096]


def test_single_engine_matches_replay_with_dead_letters(stack: Stack) -> None:
    valid, malformed = build_input(n_workers=60, n_events=6000)
    stack.create_topics()
    # Malformed messages in between the valid ones: each is dead-lettered, the rest is scored.
    stack.produce(valid[:3000] + malformed[:4] + valid[3000:] + malformed[4:])
    engine = stack.start_engine("engine-a", 16066)
    expected = replay_scores(stack, valid)
    assert len(expected) == 60
    wait_for_scores(stack, expected)
    check_dead_letters(stack, len(malformed))

    base = "http://127.0.0.1:16066"
    worker, rec = next(iter(sorted(expected.items())))
    status, body = http("GET", f"{base}/workers/{worker}/trust?at={rec['as_of']}")
    assert status == 200
    assert_close(body, rec)
    status, later = http("GET", f"{base}/workers/{worker}/trust?at=2030-01-01T00:00:00Z")
    assert status == 200 and later["confidence"] < rec["confidence"]  # type: ignore[index]
    status, body = http("GET", f"{base}/workers/{worker}/explain")
    assert status == 200 and body["band_rule"] and body["components"]["quality"]["inputs"]  # type: ignore[index]
    assert http("GET", f"{base}/workers/nobody/trust")[0] == 404
    assert http("GET", f"{base}/workers/{worker}/trust?at=yesterday")[0] == 400
    status, ranked = http(
        "POST",
        f"{base}/rank",
        {"workers": sorted(expected)[:10] + ["nobody"], "min_confidence": 0.3},
    )
    assert status == 200
    scores = [r["score"] for r in ranked["ranked"]]  # type: ignore[index]
    assert scores == sorted(scores, reverse=True) and scores
    assert {"worker_id": "nobody", "why": "unknown worker"} in ranked["excluded"]  # type: ignore[index]
    assert http("POST", f"{base}/rank", {"workers": "w-1"})[0] == 400
    assert http("GET", f"{base}/healthz") == (200, {"status": "ok"})
    wait_until(lambda: http("GET", f"{base}/readyz")[0] == 200, 30, "readiness")
    status, metrics = http("GET", f"{base}/metrics")
    assert status == 200 and isinstance(metrics, str)
    assert 'vigil_dead_letters_total{reason="BAD_CHECKSUM",topic="payouts"} 1.0' in metrics
    assert 'vigil_events_total{result="duplicate",topic="tasks"}' in metrics
    assert (
        "vigil_consumer_lag_messages" in metrics
        and "vigil_processing_latency_seconds_bucket" in metrics
    )
    assert "vigil_workers_by_band" in metrics
    stack.stop(engine)
    assert engine.returncode == 0 or engine.returncode is not None


def test_two_engines_in_one_group_match_replay(stack: Stack) -> None:
    valid, malformed = build_input(n_workers=80, n_events=6000, seed=2)
    stack.create_topics()
    stack.produce(valid[:2000] + malformed)
    stack.start_engine("engine-a", 16067)
    stack.start_engine("engine-b", 16068)
    stack.produce(valid[2000:])
    expected = replay_scores(stack, valid)
    wait_for_scores(stack, expected)
    check_dead_letters(stack, len(malformed))
    # One engine may finish all the input before the other has joined the group:
    # both must be past the rebalance (ready) before they answer for every worker.
    for port in (16067, 16068):
        url = f"http://127.0.0.1:{port}/readyz"
        wait_until(lambda url=url: http("GET", url)[0] == 200, 120, f"{url} ready")
    # Both processes answer for every worker (requests for the other one's keys are forwarded).
    for worker in sorted(expected)[:12]:
        a = http(
            "GET", f"http://127.0.0.1:16067/workers/{worker}/trust?at={expected[worker]['as_of']}"
        )
        b = http(
            "GET", f"http://127.0.0.1:16068/workers/{worker}/trust?at={expected[worker]['as_of']}"
        )
        assert a[0] == b[0] == 200
        assert_close(a[1], expected[worker])
        assert_close(b[1], expected[worker])
    # /rank reads each worker where it lives: both processes give the same ranking.
    workers = sorted(expected)
    ranks = [
        http("POST", f"http://127.0.0.1:{port}/rank", {"workers": workers, "min_confidence": 0})
        for port in (16067, 16068)
    ]
    assert ranks[0][0] == ranks[1][0] == 200
    got = [{r["worker_id"]: r["score"] for r in rank[1]["ranked"]} for rank in ranks]  # type: ignore[index]
    assert got[0].keys() == got[1].keys()
    assert all(abs(got[0][w] - got[1][w]) < 1e-6 for w in got[0])  # decayed a few ms apart
    assert len(got[0]) + len(ranks[0][1]["excluded"]) == len(workers)  # type: ignore[index]


#: A simulated platform with drift and wallet-side alerts: takeovers, a shared-wallet
#: ring, payouts to listed and linked wallets, a retroactive listing (about 16,000 events).
CRASH_SIM = (
    "--seed", "7", "--workers", "60", "--days", "30", "--takeovers", "3",
    "--ring-workers", "3", "--sanctioned-direct", "1", "--sanctioned-linked", "2",
    "--sanctioned-retroactive", "1",
)  # fmt: skip
ENGINE_KILLS = 20
BROKER_KILL_AFTER = 10  # engine kills


def simulated_messages(stack: Stack) -> tuple[list[Message], dict[str, Any]]:
    """The simulator's events in file order, keyed as their producers key them."""
    out = stack.workdir / "sim"
    stack.vigil("simulate", *CRASH_SIM, "--out", str(out), "--quiet")
    keys = {"transfers": "from", "sanctions": "address"}
    messages: list[Message] = []
    for line in (out / "events.jsonl").read_bytes().splitlines():
        rec = orjson.loads(line)
        topic, event = str(rec["topic"]), rec["event"]
        messages.append(
            (topic, str(event[keys.get(topic, "worker_id")]).encode(), orjson.dumps(event))
        )
    truth: dict[str, Any] = orjson.loads((out / "truth.json").read_bytes())
    return messages, truth


def with_redeliveries(messages: list[Message], every: int = 10, lag: int = 300) -> list[Message]:
    """Every `every`-th message sent again `lag` messages later (an at-least-once producer)."""
    out: list[Message] = []
    for i, m in enumerate(messages):
        out.append(m)
        if i >= lag and i % every == 0:
            out.append(messages[i - lag])
    return out


class Flow(threading.Thread):
    """Produces the messages in small slices over about `duration_s`, pausable."""

    def __init__(self, stack: Stack, messages: list[Message], duration_s: float) -> None:
        super().__init__(daemon=True)
        self.stack, self.messages = stack, messages
        self.slice = max(1, len(messages) // int(duration_s * 4))
        self.lock = threading.Lock()  # held while producing; the test takes it to pause
        self.error: BaseException | None = None
        self.sent = 0

    def run(self) -> None:
        try:
            while self.sent < len(self.messages):
                with self.lock:
                    self.stack.produce(self.messages[self.sent : self.sent + self.slice])
                self.sent += self.slice
                time.sleep(0.25)
        except BaseException as exc:  # reported by the test
            self.error = exc


def kill_broker(broker: KafkaBroker) -> None:
    """``kill -9`` the broker, then start it again on the same data."""
    pid = broker.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not broker.is_running(), 30, "the broker to die")
    try:
        broker.start()
    except KafkaScriptError as exc:
        # Seen on a loaded 2-core machine: the restart after kill -9 (log recovery)
        # failed once. What this test proves is the engine's, so it gets one retry;
        # the reason is printed.
        print(f"broker restart failed once, retrying: {exc}")
        time.sleep(5)
        broker.start()


def alert_key(a: dict[str, Any]) -> tuple[str, str, str]:
    return (str(a["type"]), str(a["worker_id"] or a["wallet"]), str(a["detected_at"]))


def expected_exposures(stack: Stack, messages: list[Message], wallets: list[str]) -> dict[str, Any]:
    """What `vigil replay`'s wallet side answers for each wallet after the same events."""
    path = stack.workdir / "crash-events.jsonl"
    with path.open("wb") as fh:
        for topic, _, raw in messages:
            fh.write(orjson.dumps({"topic": topic, "event": orjson.loads(raw)}) + b"\n")
    settings = load_settings(stack.env())
    result = replay_files(settings, [path], progress=False)
    links = LinkProcessor(settings.exposure, settings.links, result.links)
    # Through JSON, as the route answers.
    return {w: orjson.loads(orjson.dumps(links.exposure_of(Address(w)))) for w in wallets}


def test_engine_crash_loses_nothing_and_counts_nothing_twice(
    stack: Stack, kafka_broker: KafkaBroker | None
) -> None:
    """Kill -9 the engine 20 times and the broker once while a simulated platform flows.

    The final scores, the standing alerts (type, worker or wallet, detected_at;
    each once) and every paid wallet's exposure on the wallet side equal
    `vigil replay` of the same events: nothing lost, nothing counted twice.
    """
    events, truth = simulated_messages(stack)
    messages = with_redeliveries(events)
    stack.env_extra["VIGIL_SERVICE_ADDRESSES"] = ",".join(truth["service_addresses"].values())
    # Static membership: a restarted process takes its partitions back at once.
    stack.env_extra["VIGIL_GROUP_INSTANCE_ID"] = "crash-engine"
    stack.create_topics()
    port, rng, began = 16072, random.Random(12), time.monotonic()
    ready = f"http://127.0.0.1:{port}/readyz"
    flow = Flow(stack, messages, duration_s=40)
    engine = stack.start_engine("engine-crash", port)
    flow.start()
    serving: list[float] = []
    for kill in range(1, ENGINE_KILLS + 1):
        if kill % 4:
            # Serving: the backlog that piled up while it was down is being processed.
            wait_until(lambda: http("GET", ready)[0] == 200, 60, "ready", interval_s=0.1)
            time.sleep(rng.uniform(0.0, 1.0))
        else:
            time.sleep(rng.uniform(0.0, 1.5))  # start-up, group join, table recovery
        stack.stop(engine, kill=True)
        started = time.monotonic()
        engine = stack.start_engine("engine-crash", port)
        if kill == BROKER_KILL_AFTER and kafka_broker is not None:
            wait_until(lambda: http("GET", ready)[0] == 200, 60, "ready", interval_s=0.1)
            time.sleep(0.5)
            with flow.lock:
                kill_broker(kafka_broker)
            if engine.poll() is not None:  # it may stop when the broker goes: start it again
                engine = stack.start_engine("engine-crash", port)
        elif kill % 4 != 3:
            wait_until(lambda: http("GET", ready)[0] == 200, 60, "ready", interval_s=0.1)
            serving.append(time.monotonic() - started)
    flow.join(timeout=300)
    assert flow.error is None and flow.sent >= len(messages), flow.error
    print(
        f"{ENGINE_KILLS} engine kills in {time.monotonic() - began:.0f} s; serving again"
        f" after {min(serving):.1f}..{max(serving):.1f} s"
    )

    expected = replay_scores(stack, messages)
    wait_for_scores(stack, expected)
    want = Counter(
        alert_key(a)
        for a in map(orjson.loads, (stack.workdir / "alerts.jsonl").read_bytes().splitlines())
    )
    assert len(want) >= 10 and {k[0] for k in want} >= {
        "SHARED_WALLET",
        "SANCTIONED_PAYOUT",
        "ACTIVITY_HOURS_SHIFT",
    }
    got: Counter[tuple[str, str, str]] = Counter()

    def same_alerts() -> bool:
        nonlocal got
        records = [orjson.loads(v) for _, v, _, _ in stack.read_all("alerts")]
        got = Counter(alert_key(a) for a in standing_alerts(records))
        return got == want

    try:
        wait_until(same_alerts, 120, "the standing alerts of vigil replay", interval_s=2.0)
    finally:
        print("lost", sorted(want - got), "extra", sorted(got - want))
    # The wallet side's facts: each wallet's payouts (counted once), workers and exposure.
    wallets = sorted(
        {str(orjson.loads(raw)["wallet"]).lower() for t, _, raw in events if t == "payouts"}
    )
    exposures = expected_exposures(stack, messages, wallets)
    wait_until(lambda: http("GET", f"http://127.0.0.1:{port}/readyz")[0] == 200, 120, "ready")
    for w in wallets:
        status, body = http("GET", f"http://127.0.0.1:{port}/wallets/{w}/exposure")
        assert (status, body) == (200, exposures[w]), w


def test_a_fresh_disk_restores_every_worker_from_the_changelog(stack: Stack) -> None:
    """The tables' changelogs alone rebuild the state (the engine writes them itself).

    Both sides: the worker table, and the wallet side's address table (its
    answers at /wallets/{address}/exposure).
    """
    valid, _ = build_input(n_workers=60, n_events=6000, seed=5)
    wallets = sorted(
        {str(orjson.loads(raw)["wallet"]) for topic, _, raw in valid[:4000] if topic == "payouts"}
    )
    assert len(wallets) >= 10

    def exposures() -> dict[str, object]:
        out = {}
        for w in wallets:
            status, body = http("GET", f"http://127.0.0.1:16071/wallets/{w}/exposure")
            assert status == 200, (w, body)
            out[w] = body
        return out

    stack.create_topics()
    stack.produce(valid[:4000])
    first = stack.start_engine("engine-disk-1", 16071)
    expected_first = replay_scores(stack, valid[:4000])
    wait_for_scores(stack, expected_first)
    # Every payout has reached the wallet side: each wallet shows its payouts.
    n_paid = len([1 for topic, _, _ in valid[:4000] if topic == "payouts"])
    wait_until(
        lambda: sum(int(e["payouts_seen"]) for e in exposures().values()) >= n_paid,  # type: ignore[index]
        60,
        "every payout on the wallet side",
    )
    before = exposures()
    stack.stop(first)
    # Same group, new data folder: RocksDB is empty, only the changelogs hold the state.
    stack.start_engine("engine-disk-2", 16071)
    wait_until(lambda: http("GET", "http://127.0.0.1:16071/readyz")[0] == 200, 120, "ready")
    assert exposures() == before
    stack.produce(valid[4000:])
    wait_for_scores(stack, replay_scores(stack, valid))
    # It resumed from the committed offsets: it did not rebuild the state by
    # re-reading the input from the start (which would hide a broken changelog).
    _, text = http("GET", "http://127.0.0.1:16071/metrics")
    applied = sum(
        float(line.rsplit(" ", 1)[1])
        for line in str(text).splitlines()
        if line.startswith("vigil_events_total{") and 'result="applied"' in line
    )
    assert 0 < applied <= len(valid) - 4000, applied


def test_bearer_tokens_and_scopes(stack: Stack) -> None:
    valid, _ = build_input(n_workers=3, n_events=60, seed=4)
    stack.create_topics()
    stack.produce(valid)
    stack.env_extra["VIGIL_API_TOKENS"] = (
        "reader-token-1:scores;alerts-token-1:alerts;admin-token-1:admin"
    )
    stack.start_engine("engine-a", 16070)
    base = "http://127.0.0.1:16070"
    wait_until(lambda: len(stack.latest_scores()) == 3, 120, "scores")
    assert http("GET", f"{base}/healthz")[0] == 200  # liveness needs no token
    assert http("GET", f"{base}/workers/w-0/trust")[0] == 401
    assert http("GET", f"{base}/workers/w-0/trust", token="wrong-token-xx")[0] == 401
    assert http("GET", f"{base}/workers/w-0/trust", token="alerts-token-1")[0] == 403
    assert http("GET", f"{base}/workers/w-0/trust", token="reader-token-1")[0] == 200
    assert http("GET", f"{base}/workers/w-0/explain", token="admin-token-1")[0] == 200
    assert http("POST", f"{base}/rank", {"workers": ["w-0"]})[0] == 401
    assert http("GET", f"{base}/metrics")[0] == 401
    assert http("GET", f"{base}/metrics", token="alerts-token-1")[0] == 200
