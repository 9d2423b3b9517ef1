from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sim.config import SimConfig
from sim.generate import Simulation, simulate
from sim.output import load_sanctions_lists
from sim.sanctions import SanctionsLists


@pytest.fixture(scope="session")
def sanctions_lists() -> SanctionsLists:
    return load_sanctions_lists()


@pytest.fixture(scope="session")
def make_run(sanctions_lists: SanctionsLists) -> Callable[..., Simulation]:
    """Factory: a simulated run for the given SimConfig arguments (memoised per session)."""
    cache: dict[tuple[object, ...], Simulation] = {}

    def make(**kwargs: Any) -> Simulation:
        key = tuple(sorted((k, repr(v)) for k, v in kwargs.items()))
        if key not in cache:
            cache[key] = simulate(SimConfig(**kwargs), sanctions_lists)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def run(make_run: Callable[..., Simulation]) -> Simulation:
    """The shared run most tests look at: every kind present, 45 days."""
    return make_run(seed=11, workers=240, days=45)
