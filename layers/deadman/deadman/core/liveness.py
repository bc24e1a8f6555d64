"""The liveness row: how a trading system proves it is alive, and how the fleet judges that proof.

One row per trading system in the LivenessTable (key `system`), written only by that system:

    system      S  the trading system's name (the table key)
    beat_ms     N  the writer's clock at the beat, epoch milliseconds
    seq         N  increasing per writer (diagnostics: spot two writers or a replayed row)
    state       S  "running"; anything else means "do not extend" ("stopped" on a clean shutdown)
    host        S  where the writer runs (diagnostics)
    expires_at  N  epoch seconds; the table's TTL attribute, so an abandoned system's row goes away

The fleet reads the row strongly consistent and extends a venue's switch only if `judge` says
ALIVE: state "running" and `-K <= now_ms - beat_ms <= S` by the fleet's clock (S = max staleness,
K = skew bound). Every other verdict - stale, missing, in the future beyond K, malformed, not
running - is death (no proof of life: the watchdog sweeps). Only a read that failed is UNREADABLE:
our own plumbing, so neither extended nor swept (fail closed, and never cancel on our own fault;
docs/design.md, promises 1 and 3). A read that succeeded and returned nonsense is the trader's row
saying nothing: MALFORMED, which is death like any other missing proof.

Three ways to write the row:

* `LivenessWriter(table, system).start(every_s=5)` in a Python trader (a daemon thread beats;
  `stop_running()` on a clean shutdown so the fleet sweeps at its next tick instead of waiting S);
* `deadman beat` (the CLI, e.g. as a sidecar loop);
* one POSIX shell line from any language, printed by `put_item_command(table, system)`:

      aws dynamodb put-item --table-name Liveness --item '{"system":{"S":"trader-1"},...}'

  run it every few seconds (needs GNU `date` for `%3N`; on macOS install coreutils' `gdate`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

RUNNING = "running"
STOPPED = "stopped"


class Verdict(StrEnum):
    ALIVE = "alive"
    STALE = "stale"
    MISSING = "missing"
    FUTURE = "future"
    MALFORMED = "malformed"  # read, but not a liveness row: no proof of life (death)
    UNREADABLE = "unreadable"  # the read itself failed: our plumbing, not the trader's word
    NOT_RUNNING = "not_running"


@dataclass(frozen=True)
class Liveness:
    verdict: Verdict
    beat_ms: int | None
    age_ms: int | None
    detail: str
    at_ms: int | None = None  # the fleet's clock when it judged (read_and_judge: after the read)

    @property
    def alive(self) -> bool:
        return self.verdict is Verdict.ALIVE


# -- judging (pure) ---------------------------------------------------------------------------------


def judge(item: Mapping[str, Any] | None, *, now_ms: int, max_staleness_ms: int, skew_ms: int) -> Liveness:
    """Judge one deserialized liveness row at `now_ms` (the fleet's clock). Pure; never raises on data.

    `item` is the row as plain Python (numbers as `Decimal` or `int`) or None when there is none.
    Floats are refused (MALFORMED): the table only ever yields `Decimal`, so a float means
    something other than a DynamoDB row reached here.
    """
    if max_staleness_ms < 0 or skew_ms < 0:
        raise ValueError("max_staleness_ms and skew_ms must be >= 0")
    if item is None:
        return Liveness(Verdict.MISSING, None, None, "no liveness row")
    if not isinstance(item, Mapping):
        return malformed("row is not a map")
    state = item.get("state")
    if state is None:
        return malformed("state is missing")
    if not isinstance(state, str):
        return malformed("state is not a string")
    beat_ms, problem = _as_epoch_ms(item.get("beat_ms"))
    if beat_ms is None:
        return malformed(f"beat_ms {problem}")
    age_ms = now_ms - beat_ms
    if state != RUNNING:
        return Liveness(Verdict.NOT_RUNNING, beat_ms, age_ms, f"state is {state[:40]!r}, not 'running'")
    if age_ms < -skew_ms:
        return Liveness(
            Verdict.FUTURE, beat_ms, age_ms, f"beat is {-age_ms} ms in the future (skew bound {skew_ms} ms)"
        )
    if age_ms > max_staleness_ms:
        return Liveness(
            Verdict.STALE, beat_ms, age_ms, f"beat is {age_ms} ms old (max staleness {max_staleness_ms} ms)"
        )
    return Liveness(Verdict.ALIVE, beat_ms, age_ms, f"beat is {age_ms} ms old")


def unreadable(detail: str) -> Liveness:
    """The row could not be read (a store error): judged neither alive nor dead."""
    return Liveness(Verdict.UNREADABLE, None, None, detail)


def malformed(detail: str) -> Liveness:
    """A row was read and is not a liveness row: no proof of life."""
    return Liveness(Verdict.MALFORMED, None, None, f"malformed row: {detail}")


def _as_epoch_ms(value: object) -> tuple[int | None, str]:
    if value is None:
        return None, "is missing"
    # bool is an int subclass: True must not pass as a beat at 1 ms after the epoch.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None, "is not a number"
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            return None, "is not an integer"
        value = int(value)
    if value < 0:
        return None, "is negative"
    return value, ""


def combine(verdicts: Sequence[tuple[str, Liveness]]) -> Liveness:
    """One account gated on several trading systems: alive only if every one is. A row that could
    not be read makes the whole unreadable (no extension, no sweep: fail closed, never cancel on our
    own fault); else the first not alive decides (death: a malformed row is no proof of life, so one
    system's garbage never holds the watchdog back). Alive: the oldest beat anchors the venue
    deadline and every freshness check after it. One system: its verdict unchanged."""
    if len(verdicts) == 1:
        return verdicts[0][1]
    at = max((v.at_ms for _, v in verdicts if v.at_ms is not None), default=None)
    for wanted in (Verdict.UNREADABLE, None):
        for system, verdict in verdicts:
            if verdict.verdict is wanted or (wanted is None and not verdict.alive):
                return dataclasses.replace(verdict, detail=f"{system}: {verdict.detail}", at_ms=at)
    oldest_system, oldest = min(verdicts, key=lambda sv: sv[1].beat_ms or 0)
    return dataclasses.replace(
        oldest, detail=f"all of {', '.join(s for s, _ in verdicts)} alive; oldest {oldest_system}", at_ms=at
    )
