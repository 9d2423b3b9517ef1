"""The stream shares the event loop: batches in slices, pauses long enough for a request."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest

from config.settings import Settings
from reputation.events import parse_address
from streams.app import Engine
from streams.loopturn import PAUSE_TURNS, TurnBudget, watch_loop_lag
from tests.helpers.events import make_events
from tests.streams.test_engine_unit import (
    FakeEvent,
    FakeMessage,
    FakeProducer,
    batch_of,
    use_producer,
)

# Faust and mode create event loops of their own that nothing closes (see test_engine_unit).
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


#: Loop turns from a request's bytes arriving to its answer written (see PAUSE_TURNS).
REQUEST_HOPS = 3


def engine_with_slice(slice_s: float) -> Engine:
    settings = Settings()
    settings = replace(settings, engine=replace(settings.engine, turn_slice_s=slice_s))
    return Engine(settings, store="memory://", clock=lambda: datetime(2026, 11, 20, tzinfo=UTC))


def test_pause_yields_only_once_the_slice_is_spent(loop: asyncio.AbstractEventLoop) -> None:
    t = [0.0]
    budget = TurnBudget(0.005, clock=lambda: t[0])
    ran: list[int] = []

    async def other() -> None:
        ran.append(1)

    async def work() -> None:
        loop.create_task(other())
        await budget.pause()  # the slice is not spent: the other task has not run
        assert ran == []
        t[0] = 0.005
        await budget.pause()  # spent: the other task runs, a new slice starts
        assert ran == [1]
        await budget.pause()
        assert budget.yields == 1

    loop.run_until_complete(work())


def test_a_request_arriving_during_a_slice_is_answered_before_the_next(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """One pause gives away enough turns for the chain of callbacks that answers a request."""
    budget = TurnBudget(0.0)
    steps: list[str] = []

    def hop(n: int) -> None:  # the socket's callback, the handler task's wake-up, ...
        steps.append(f"hop {n}")
        if n < REQUEST_HOPS:
            loop.call_soon(hop, n + 1)

    async def work() -> None:
        for i in range(2):
            steps.append(f"slice {i}")
            if i == 0:
                loop.call_soon(hop, 1)  # the request's bytes arrive during slice 0
            await budget.pause()

    loop.run_until_complete(work())
    assert steps.index(f"hop {REQUEST_HOPS}") < steps.index("slice 1"), steps


def test_a_batch_yields_between_workers_and_gives_the_same_output(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Sliced (0 s: a yield between every two workers) or not, the output is the same."""
    events = make_events(12, 240, seed=3)
    msgs = [(t, orjson.dumps(e)) for t, e in events]
    workers = {str(e["worker_id"]) for _, e in events}

    def run(slice_s: float) -> tuple[list[tuple[str, int, bytes]], list[int]]:
        engine = engine_with_slice(slice_s)
        producer = FakeProducer()
        use_producer(engine, producer)
        seen: list[int] = []  # workers scored so far, as a concurrent reader sees them
        done = asyncio.Event()

        async def reader() -> None:
            while not done.is_set():
                seen.append(len(engine._cache))  # noqa: SLF001 - what state_of reads first
                await asyncio.sleep(0)

        async def both() -> None:
            task = loop.create_task(reader())
            await asyncio.sleep(0)
            await engine.process_batch(batch_of(msgs))
            done.set()
            await task

        loop.run_until_complete(both())
        return producer.sent, seen

    sliced, seen_sliced = run(0.0)
    whole, seen_whole = run(1.0)
    assert sliced == whole  # same messages, same order, same partitions
    # The reader ran while the batch was half done only when it was sliced.
    assert any(0 < n < len(workers) for n in seen_sliced), seen_sliced
    assert not any(0 < n < len(workers) for n in seen_whole), seen_whole


def test_links_agent_yields_between_facts(loop: asyncio.AbstractEventLoop) -> None:
    engine = engine_with_slice(0.0)
    use_producer(engine, FakeProducer())
    facts = [
        {
            "kind": "payouts",
            "event": {
                "event_id": f"p-{i}",
                "worker_id": f"w-{i}",
                "payer_id": "agent-1",
                "wallet": f"0x{i + 1:040x}",
                "chain_id": 1,
                "asset": "USDC",
                "amount": "25.00",
                "paid_at": "2026-11-19T10:00:00Z",
            },
        }
        for i in range(5)
    ]
    batch = [FakeEvent(FakeMessage("vigil.links", 0, 0), orjson.dumps({"facts": facts}))]

    class Stream:
        def take_events(self, n: int, within: float) -> object:
            async def gen() -> object:
                yield batch

            return gen()

    ticks: list[int] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(1)
            await asyncio.sleep(0)

    async def both() -> None:
        task = loop.create_task(ticker())
        await engine._link_wallets(Stream())  # noqa: SLF001
        done.set()
        await task

    loop.run_until_complete(both())
    # The same wallet side as the facts applied in one go.
    other = engine_with_slice(1.0)
    other._link_message(batch[0], other._links_outbox)  # noqa: SLF001
    for fact in facts:
        wallet = parse_address(str(fact["event"]["wallet"]))  # type: ignore[index]
        assert engine.links.exposure_of(wallet) == other.links.exposure_of(wallet)
    # One pause (PAUSE_TURNS turns) before each of the 5 facts, besides the flush's awaits.
    assert len(ticks) >= 5 * PAUSE_TURNS


def test_loop_lag_watcher_sees_a_held_loop(loop: asyncio.AbstractEventLoop) -> None:
    observed: list[float] = []

    async def hold_then_stop() -> None:
        watcher = loop.create_task(watch_loop_lag(0.01, observed.append))
        await asyncio.sleep(0.02)
        time.sleep(0.2)  # a callback that holds the loop for 200 ms  # noqa: ASYNC251
        await asyncio.sleep(0.03)
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher

    loop.run_until_complete(hold_then_stop())
    # A lower bound, not a timing budget: the timer cannot fire while the loop is held.
    assert max(observed) >= 0.15
