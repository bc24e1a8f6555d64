"""Every venue simulator, by the venue's name in `deadman.venues.REGISTRY` (a test checks that each
registered venue has one: tests/simulation/test_simulators.py).

Adding a venue on the sandbox side: its simulator module (a `Simulator` named by its module's
`SIMULATOR`), and one line here. The order is the campaign's: a scenario's venue is
`VENUES[seed % len(VENUES)]`, so a new venue goes last (and names new scenarios for the seeds).
"""

from __future__ import annotations

import importlib

from sandbox.venues.simulator import Simulator


def _load(venue: str, module: str) -> type[Simulator]:
    found = getattr(importlib.import_module(module), "SIMULATOR", None)
    if not (isinstance(found, type) and issubclass(found, Simulator)):
        raise ImportError(f"{module} names no SIMULATOR (a Simulator subclass)")
    if found.venue != venue:
        raise ImportError(f"{module}'s simulator is for {found.venue!r}, registered as {venue!r}")
    return found


SIMULATORS: dict[str, type[Simulator]] = {
    "kraken": _load("kraken", "sandbox.venues.kraken"),
    "gemini": _load("gemini", "sandbox.venues.gemini"),
    "hyperliquid": _load("hyperliquid", "sandbox.venues.hyperliquid"),
}
VENUES: tuple[str, ...] = tuple(SIMULATORS)
