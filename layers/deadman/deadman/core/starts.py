"""When a planned disarm may start: the one rule the use case, the API model and the CLI share.

A start a little in the past is a request "from now" that spent time in transit (or came from a
client whose clock runs slightly ahead): it disarms now. Anything older is refused, naming the time
it stands for: it is a stale date (a runbook's example copied a month later) or a wrong unit
(seconds for milliseconds), and "from then" would disarm now without anyone having asked for that.
"""

from __future__ import annotations

import datetime as dt

PAST_START_TOLERANCE_MS = 60_000
# Epoch milliseconds below this are before 2001-09-09: no start anyone means, but exactly what epoch
# seconds of this century look like.
_FIRST_PLAUSIBLE_MS = 10**12


def past_start_problem(starts_at_ms: int, now_ms: int) -> str | None:
    """Why `starts_at_ms` cannot start a disarm at `now_ms`, or None if it can (ahead, or now)."""
    if starts_at_ms >= now_ms - PAST_START_TOLERANCE_MS:
        return None
    ago = span_text(now_ms - starts_at_ms)
    unit = ""
    if 0 < starts_at_ms < _FIRST_PLAUSIBLE_MS and starts_at_ms * 1000 >= _FIRST_PLAUSIBLE_MS:
        unit = f" It looks like epoch seconds ({iso(starts_at_ms * 1000)}): give epoch milliseconds."
    return (
        f"starts_at_ms {starts_at_ms} is {iso(starts_at_ms)}, {ago} in the past: a disarm cannot start "
        f"in the past (up to {PAST_START_TOLERANCE_MS // 1000} s ago counts as now). Leave the start out "
        f"to disarm now, or give a time ahead.{unit}"
    )


def implausible_start_problem(starts_at_ms: int) -> str | None:
    """What needs no clock to refuse: a start before 2001, seconds given for milliseconds above all."""
    if starts_at_ms >= _FIRST_PLAUSIBLE_MS:
        return None
    unit = ""
    if starts_at_ms * 1000 >= _FIRST_PLAUSIBLE_MS:
        unit = f" It looks like epoch seconds ({iso(starts_at_ms * 1000)}): give epoch milliseconds."
    return f"{starts_at_ms} is {iso(starts_at_ms)}, long past: a disarm cannot start in the past.{unit}"


def span_text(ms: int) -> str:
    """A length of time as an operator reads it, rounded down: '3 days', '5 h', '12 min', '75 s'."""
    seconds = ms // 1000
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
