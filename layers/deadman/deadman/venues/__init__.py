"""The venues deadman speaks, each one module behind the contract of `deadman.core.venue`: its
`DRIVER` (spec, account parsing, client, doctor plan). `REGISTRY` is the one list of venues; every
other list (the API's, the CLI's, the template's, the sandbox's) is derived from it, and a test
checks that each registered venue brings everything a venue needs (tests/unit/test_registry.py).

Modules load lazily, on first use of their venue: the Kraken refresher never pays for Hyperliquid's
signer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from deadman.core.venue import Capabilities, VenueDriver, VenueSpec

# name -> module. Adding a venue: its module, and one line here (docs/adding-a-venue.md).
# In the order venues joined: the fault campaign draws a scenario's venue as `VENUES[seed % n]`. A new
# venue goes last; since it changes n, the campaign's kept seeds (its regressions) name their venue.
REGISTRY: dict[str, str] = {
    "kraken": "deadman.venues.kraken",
    "gemini": "deadman.venues.gemini",
    "hyperliquid": "deadman.venues.hyperliquid",
    "okx": "deadman.venues.okx",
    "binance": "deadman.venues.binance",
    "gate": "deadman.venues.gate",
    "bitmex": "deadman.venues.bitmex",
    "bybit": "deadman.venues.bybit",
    "deribit": "deadman.venues.deribit",
}
VENUES: tuple[str, ...] = tuple(REGISTRY)

__all__ = ["CAPABILITIES", "REGISTRY", "SPECS", "VENUES", "driver", "spec"]

T = TypeVar("T")
_drivers: dict[str, VenueDriver] = {}


def driver(venue: str) -> VenueDriver:
    """The venue's driver; a ValueError naming the known venues for any other name."""
    found = _drivers.get(venue)
    if found is not None:
        return found
    if venue not in REGISTRY:
        raise ValueError(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
    module = importlib.import_module(REGISTRY[venue])
    loaded: VenueDriver = module.DRIVER
    if loaded.spec.name != venue:
        raise ImportError(f"{REGISTRY[venue]} registers as {venue!r} but its spec says {loaded.spec.name!r}")
    _drivers[venue] = loaded
    return loaded


def spec(venue: str) -> VenueSpec:
    return driver(venue).spec


class _Lazy(Mapping[str, T]):
    """Every registered venue by name, each loaded only when asked for."""

    def __init__(self, get: Callable[[str], T]) -> None:
        self._get = get

    def __getitem__(self, venue: str) -> T:
        if venue not in REGISTRY:
            raise KeyError(venue)
        return self._get(venue)

    def __contains__(self, venue: object) -> bool:
        return venue in REGISTRY  # without loading it

    def __len__(self) -> int:
        return len(REGISTRY)

    def __iter__(self) -> Iterator[str]:
        return iter(REGISTRY)


SPECS: Mapping[str, VenueSpec] = _Lazy(spec)
CAPABILITIES: Mapping[str, Capabilities] = _Lazy(lambda venue: spec(venue).capabilities)
