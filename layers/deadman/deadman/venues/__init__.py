"""Venue adapters behind one interface. Modules load lazily: the Kraken refresher never pays for
Hyperliquid's signer."""

from __future__ import annotations

import importlib
from types import ModuleType

from deadman.core.venue import VENUES

__all__ = ["VENUES", "load"]


def load(venue: str) -> ModuleType:
    if venue not in VENUES:
        raise ValueError(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
    return importlib.import_module(f"deadman.venues.{venue}")
