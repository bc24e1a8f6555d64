"""The refresher: one tick of a venue's switches (`tick.py`) and the loop an invocation becomes
(`loop.py`)."""

from deadman.app.refresh.loop import Refresher
from deadman.app.refresh.report import AccountTick, TickReport
from deadman.app.refresh.tick import Ticker

__all__ = ["AccountTick", "Refresher", "TickReport", "Ticker"]
