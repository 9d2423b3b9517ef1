"""Serving beside the stream: API requests get a bounded share of the event loop.

The engine scores events and answers HTTP requests on one event loop. A
request's work (a state lookup, an explanation, a ranking, a JSON body) runs
without yielding, so clients calling as fast as they are answered took the
loop from the scoring agent, and from Faust's consumer thread waiting on the
interpreter lock: with 8 such clients event processing fell from 300 to about
17 events/s and the backlog grew without bound.

`ReadGate` is a token bucket of loop time: requests may use at most
``share`` of the wall clock (``VIGIL_API_READ_SHARE``, 0.25 by default) plus a
small burst; a request that finds the bucket empty waits, without holding the
loop, until the stream has had its time. Readers are then slowed down, never
the stream. The probes (``/healthz``, ``/readyz``) and ``/metrics`` are not
gated: an orchestrator must see a busy engine as alive.

Each gated answer says, in a ``Server-Timing`` header, how long it waited at
the gate and how long its handler took.

The handler's own time is what is counted (the middleware sits inside the
guard, after the body was read, so a slow client's upload costs nothing);
aiohttp's request parsing and response writing around it are a fixed
`OVERHEAD_S` per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from streams import metrics

__all__ = ["OVERHEAD_S", "UNGATED_PATHS", "ReadGate", "read_gate_middleware"]

#: Requests that are never queued behind the gate (liveness, readiness, scrapes).
UNGATED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
#: aiohttp's parsing and writing of one request and its answer, outside the handler
#: (py-spy of the engine under 32 clients on the 2-core test machine: 0.64 ms of the
#: loop's time per request, most of it the loopback socket's send; 0.3 ms assumed before).
OVERHEAD_S = 0.0006

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


class ReadGate:
    """A token bucket of event-loop seconds: requests may take `share` of the wall clock.

    Parameters
    ----------
    share
        Most of the time, over any stretch longer than the burst, that admitted
        requests may spend (0 < share <= 1).
    burst_s
        Seconds of request time that may be spent at once after a quiet spell.
    clock
        Monotonic seconds (`time.perf_counter`); tests pass a fake.

    Examples
    --------
    >>> t = [0.0]
    >>> gate = ReadGate(0.25, burst_s=0.01, clock=lambda: t[0])
    >>> gate.wait_s()
    0.0
    >>> gate.spend(0.05)  # a 50 ms request: 40 ms in debt
    >>> round(gate.wait_s(), 3)  # debt / share
    0.16
    >>> t[0] = 0.17
    >>> gate.wait_s()
    0.0
    """

    def __init__(
        self, share: float, burst_s: float = 0.02, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share must be within (0, 1], got {share}")
        self.share = share
        self.burst_s = burst_s
        self._clock = clock
        self._credit = burst_s
        self._at = clock()
        self._lock = asyncio.Lock()
        #: Requests that had to wait, and their total wait (for the metrics).
        self.waited = 0
        self.waited_s = 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._credit = min(self.burst_s, self._credit + (now - self._at) * self.share)
        self._at = now

    def wait_s(self) -> float:
        """Return how long a request arriving now must wait (0 when there is credit)."""
        self._refill()
        return 0.0 if self._credit > 0 else -self._credit / self.share + 1e-9

    def spend(self, seconds: float) -> None:
        """Charge `seconds` of request time to the bucket."""
        self._refill()
        self._credit -= seconds

    async def admit(self) -> None:
        """Return once the bucket has credit; requests are admitted in arrival order."""
        began = self._clock()  # waiting for the lock (the requests before this one) counts
        async with self._lock:
            while (wait := self.wait_s()) > 0:
                await asyncio.sleep(wait)
            if (waited := self._clock() - began) > 0:
                self.waited += 1
                self.waited_s += waited
                metrics.API_GATE_WAITS.inc()
                metrics.API_GATE_WAIT_SECONDS.inc(waited)


def read_gate_middleware(gate: ReadGate) -> Middleware:
    """Return an aiohttp middleware that admits each request through `gate`."""

    @web.middleware
    async def gate_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in UNGATED_PATHS:
            return await handler(request)
        arrived = time.perf_counter()
        await gate.admit()
        started = time.perf_counter()
        try:
            resp = await handler(request)
        finally:
            took = time.perf_counter() - started
            gate.spend(took + OVERHEAD_S)
        if not resp.prepared:
            # What the engine's own part of the answer took (W3C Server Timing), so a
            # client tells the engine's time from the network's and its own.
            resp.headers["Server-Timing"] = (
                f"gate;dur={(started - arrived) * 1000:.2f}, handler;dur={took * 1000:.2f}"
            )
        return resp

    return gate_requests
