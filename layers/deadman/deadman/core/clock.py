"""The one clock: epoch milliseconds, injected everywhere so tests can run in virtual time."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]


def system_clock() -> int:
    return time.time_ns() // 1_000_000
