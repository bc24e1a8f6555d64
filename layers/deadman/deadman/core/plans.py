"""Planned windows: disarms (or off periods) that start later, several per switch.

A dropped plan is the book wipe it existed to prevent (Kraken's maintenance with a timer armed), so a
plan never goes without a word: a new one may not overlap another unless it names the one it
replaces, arm keeps the plans ahead and cancels one only when asked, and the tick that opens or
misses a window audits it. The rules here are pure; the use cases and the tick apply them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Enough for a month of announced maintenance, few enough to keep a switch's item small.
MAX_PLANS = 8
# Said in place of ids to cancel every plan of the targeted switches.
ALL = "all"


@dataclass(frozen=True)
class Plan:
    """One planned window: disarmed from `from_ms` until `until_ms`, asked for by `by`."""

    id: str
    from_ms: int
    until_ms: int
    by: str
    reason: str
    off: bool = False  # an off period: the trader is away on purpose
    timer_off: bool = False  # the venue timer switched off rather than deferred (Kraken's maintenance)

    def overlaps(self, from_ms: int, until_ms: int) -> bool:
        return self.from_ms < until_ms and from_ms < self.until_ms

    def to_item(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def plan_id(from_ms: int, until_ms: int, by: str, asked_ms: int) -> str:
    """A short id, the same on every switch one request planned (so one id cancels it everywhere),
    and different for the same window asked for again later."""
    digest = hashlib.sha256(f"{from_ms}:{until_ms}:{by}:{asked_ms}".encode()).hexdigest()
    return f"p-{digest[:8]}"


def plan_from_item(item: Mapping[str, Any]) -> Plan:
    """A plan as stored (numbers may be `Decimal`); raises ValueError on anything else."""
    try:
        return Plan(
            id=str(item["id"]),
            from_ms=_int(item["from_ms"]),
            until_ms=_int(item["until_ms"]),
            by=str(item.get("by") or ""),
            reason=str(item.get("reason") or ""),
            off=bool(item.get("off", False)),
            timer_off=bool(item.get("timer_off", False)),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a stored plan is malformed: {exc!r}") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or int(value) != value:
        raise TypeError(f"not a whole number: {value!r}")
    return int(value)


def ordered(plans: Iterable[Plan]) -> tuple[Plan, ...]:
    return tuple(sorted(plans, key=lambda p: (p.from_ms, p.id)))


@dataclass(frozen=True)
class Due:
    """What a tick at `now` makes of a switch's plans: the window that opens (if any), the windows
    whose end passed before a tick could open them, and the plans still ahead."""

    opens: Plan | None
    missed: tuple[Plan, ...]
    ahead: tuple[Plan, ...]


def due(plans: Iterable[Plan], now_ms: int) -> Due:
    """Windows never overlap (the disarm use case refuses it), so at most one is open at `now`."""
    missed: list[Plan] = []
    ahead: list[Plan] = []
    opens: Plan | None = None
    for plan in ordered(plans):
        if plan.from_ms > now_ms:
            ahead.append(plan)
        elif now_ms >= plan.until_ms:
            missed.append(plan)
        elif opens is None:
            opens = plan
        else:  # two stored windows open at once: only by a bug or a hand edit; the longer disarm wins
            opens = opens if opens.until_ms >= plan.until_ms else plan
    return Due(opens=opens, missed=tuple(missed), ahead=tuple(ahead))


def clashes(plans: Iterable[Plan], from_ms: int, until_ms: int, *, replacing: str | None) -> list[Plan]:
    """The stored plans a new window [from, until) would overlap, the one it replaces aside."""
    return [p for p in ordered(plans) if p.id != replacing and p.overlaps(from_ms, until_ms)]
