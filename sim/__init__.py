"""Vigil's simulator: a seeded synthetic gig platform with ground truth (``vigil simulate``).

Generation is pure and deterministic (`simulate`); reading the OFAC files,
writing ``events.jsonl``/``truth.json`` and producing to Kafka live in
`sim.output`, and the command line in `sim.cli`.
"""

from sim.config import KINDS, SimConfig, SimulationError
from sim.generate import Simulation, simulate
from sim.sanctions import ListedAddress, SanctionsLists

__all__ = [
    "KINDS",
    "ListedAddress",
    "SanctionsLists",
    "SimConfig",
    "Simulation",
    "SimulationError",
    "simulate",
]
