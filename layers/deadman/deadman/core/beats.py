"""How often a trading system must beat: the one rule, checked by `deadman beat` and quoted by the
README and `LivenessWriter`.

The fleet reads the liveness row at moments unrelated to the beats, so just before a beat the row
is one interval old, and after one lost beat (a failed write is only tried again at the next
interval) two. A trader whose clock runs K behind the fleet's writes beats that look K older. The
write itself takes up to about a second. The row the fleet reads may therefore be
`2 x every + K + 1 s` old, and older than S is death:

    2 x every + K + 1 s <= S,   that is   every <= (S - K - 1 s) / 2

At the defaults (S = 20, K = 5) that is every 7 s at most; in the sandbox (S = 4, K = 1), every 1 s.
Beats every 9.5 s (under S/2, the old rule), a clock 3 s behind and one lost beat made a row look
23 s old, and a live book was swept.
"""

from __future__ import annotations

# Room for the PutItem itself: the beat's time is taken before the write lands.
WRITE_ALLOWANCE_S = 1.0


def max_beat_interval_s(max_staleness_s: float, skew_s: float) -> float:
    """The longest interval between beats that survives one lost beat and a clock K behind;
    0 or less when no interval does (S too small for K)."""
    return (max_staleness_s - skew_s - WRITE_ALLOWANCE_S) / 2
