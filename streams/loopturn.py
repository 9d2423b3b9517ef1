"""Sharing the engine's event loop: bounded turns for the stream, and a watcher of lag.

Scoring, the wallet side, the followers of the alert and score topics and every
HTTP request share one event loop. A callback runs until it awaits something,
so a batch whose scoring takes 300 ms of CPU (the drift model judges every
closed day an event touched) held the loop for 300 ms: a read that arrived
meanwhile waited for all of it (read p99 0.2-1.1 s with 8 clients while the
engine scored 300 events/s).

`TurnBudget` bounds one turn: the agents call `TurnBudget.pause` between
units of work (a message's decoding, a worker's events, a wallet-side fact),
which, once the turn has run `slice_s`, yields to the loop for a few turns
(`PAUSE_TURNS`). The work and its order stay as they were; the batch's output
is still flushed, and its input acked, only after its last slice, so nothing
about results or the commit order changes, only who else gets the loop in
between.

`watch_loop_lag` measures it: a timer that sleeps again and again and
observes how much later than asked it woke (``vigil_event_loop_lag_seconds``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from streams import metrics

__all__ = ["LOOP_LAG_INTERVAL_S", "PAUSE_TURNS", "TurnBudget", "watch_loop_lag"]

#: Seconds between two wake-ups of the lag watcher (20 a second costs next to nothing).
LOOP_LAG_INTERVAL_S = 0.05
#: Loop turns one pause gives away. A request whose bytes arrived during a slice
#: takes about three to be answered (the socket's read callback, the wake-up of
#: its handler task, which runs the handler and writes the answer): it is done
#: before the next slice starts, instead of waiting for one slice per turn.
PAUSE_TURNS = 3


class TurnBudget:
    """At most `slice_s` of work per event-loop turn: `pause` yields once it is spent.

    Parameters
    ----------
    slice_s
        Seconds of work after which `pause` yields to the loop (0 yields at every
        call). A read waits for at most about one slice of the stream's work per
        loop turn it needs.
    clock
        Monotonic seconds (`time.perf_counter`); tests pass a fake.

    Examples
    --------
    >>> import asyncio
    >>> t = [0.0]
    >>> budget = TurnBudget(0.005, clock=lambda: t[0])
    >>> asyncio.run(budget.pause())  # nothing spent yet: no yield
    >>> budget.yields
    0
    >>> t[0] = 0.006
    >>> asyncio.run(budget.pause())
    >>> budget.yields
    1
    """

    def __init__(self, slice_s: float, clock: Callable[[], float] = time.perf_counter) -> None:
        if slice_s < 0:
            raise ValueError(f"slice_s must be >= 0, got {slice_s}")
        self.slice_s = slice_s
        self._clock = clock
        self._since = clock()
        #: Times `pause` yielded (for tests and curiosity).
        self.yields = 0

    def start(self) -> None:
        """Begin a turn's count now (a batch's work starts on a turn of its own)."""
        self._since = self._clock()

    async def pause(self) -> None:
        """Yield to the event loop if this turn has used its slice, then start a new one."""
        if self._clock() - self._since >= self.slice_s:
            for _ in range(PAUSE_TURNS):
                await asyncio.sleep(0)
            self.yields += 1
            self._since = self._clock()


async def watch_loop_lag(
    interval_s: float = LOOP_LAG_INTERVAL_S,
    observe: Callable[[float], None] = metrics.LOOP_LAG.observe,
) -> None:
    """Observe, every `interval_s`, how late the loop woke this task; runs until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        observe(max(0.0, loop.time() - asked))
