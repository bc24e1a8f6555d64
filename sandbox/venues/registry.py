"""Every venue simulator, found by convention from the one list of venues, `deadman.venues.REGISTRY`:
venue `<name>` is simulated by `sandbox/venues/<name>.py`, whose `SIMULATOR` names its `Simulator`
subclass. A registered venue with no simulator fails here, naming what is missing
(tests/unit/test_registry.py and tests/simulation/test_simulators.py say so per venue).

The order is the registry's, which is the campaign's: a scenario's venue is `VENUES[seed % n]`.
"""

from __future__ import annotations

import importlib

from deadman.venues import REGISTRY
from sandbox.venues.simulator import Simulator


def _load(venue: str) -> type[Simulator]:
    module = f"sandbox.venues.{venue}"
    try:
        found = getattr(importlib.import_module(module), "SIMULATOR", None)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        raise ImportError(f"venue {venue!r} is registered but has no simulator: add {module}") from None
    if not (isinstance(found, type) and issubclass(found, Simulator)):
        raise ImportError(f"{module} names no SIMULATOR (a Simulator subclass)")
    if found.venue != venue:
        raise ImportError(f"{module}'s simulator is for {found.venue!r}, registered as {venue!r}")
    return found


SIMULATORS: dict[str, type[Simulator]] = {venue: _load(venue) for venue in REGISTRY}
VENUES: tuple[str, ...] = tuple(SIMULATORS)


def sandbox_venues(tick_s: float) -> tuple[str, ...]:
    """The venues a sandbox ticking every `tick_s` runs: those whose timer's rate limit leaves a
    control room to call it (`Rules.min_tick_s`)."""
    return tuple(v for v in VENUES if SIMULATORS[v].RULES.min_tick_s <= tick_s)
