"""Planned windows, judged from the record once a run is over: a plan is never lost without a word,
never opens once cancelled or replaced, and a window that opened holds like any disarm (promise 5)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sandbox.sim.checks import Checks
from sandbox.sim.faults import PLUMBING

# A plan whose start passed this long ago must be on the record as opened, missed, replaced or
# cancelled: a tick (T), a lease handed over after a crash (T + 7 s), and the audit written.
ACCOUNTED_WITHIN_MS = 45_000


@dataclass(frozen=True)
class _Entry:
    account: str
    action: str
    at_ms: int
    result: str
    details: dict[str, Any]

    @property
    def plan(self) -> str | None:
        value = self.details.get("plan", self.details.get("id"))
        return str(value) if value else None


class PlanVerdicts(Checks):
    def _plans(self) -> None:
        entries = self._plan_entries()
        self._plans_accounted(entries)
        self._ended_plans_stay_shut(entries)
        self._windows_hold(entries)

    def _plan_entries(self) -> list[_Entry]:
        out = []
        for account in self.s.accounts:
            for item in self.fleet.audit(account):
                raw = item.get("details", {}).get("S") or "{}"
                try:
                    details = json.loads(raw)
                except ValueError:
                    details = {}
                out.append(
                    _Entry(
                        account,
                        item["action"]["S"],
                        int(item["at_ms"]["N"]),
                        item.get("result", {}).get("S", ""),
                        details if isinstance(details, dict) else {},
                    )
                )
        return sorted(out, key=lambda e: e.at_ms)

    def _plans_accounted(self, entries: list[_Entry]) -> None:
        """Every plan on the record whose start passed is, within ACCOUNTED_WITHIN_MS, opened, missed,
        replaced or cancelled on the record too; a killed switch keeps its plans until armed, and a
        table that cannot be written delays the record (both excused)."""
        ends = {"scheduled-disarm", "scheduled-disarm-missed", "plan-replace", "plan-cancel"}
        done = {(e.account, e.plan) for e in entries if e.action in ends}
        last = self.t(self.duration) - 10_000
        for e in entries:
            if e.action not in ("disarm", "off") or not e.result.startswith("planned") or e.plan is None:
                continue
            start = int(e.details["from_ms"])
            if (e.account, e.plan) in done or start + ACCOUNTED_WITHIN_MS > last:
                continue
            if self._killed_around(start):
                continue
            if self.faults_in(PLUMBING | {"lambda_crash"}, start - 60_000, start + ACCOUNTED_WITHIN_MS):
                continue
            self.violate(
                "P5 plans kept",
                f"{e.account}: plan {e.plan} from {self.rel(start):.1f}s is neither opened, missed, "
                f"replaced nor cancelled {ACCOUNTED_WITHIN_MS / 1000:g}s after its start",
            )

    def _killed_around(self, start: int) -> bool:
        """A kill came before the plan was due to be accounted for, and no arm between it and the
        plan's start: the switch was killed when the window began (it keeps its plans until armed)."""
        kills = [c.started_ms for c in self.fleet.controls if c.action == "kill"]
        kills = [k for k in kills if k <= start + ACCOUNTED_WITHIN_MS]
        if not kills:
            return False
        return not any(c.action == "arm" and max(kills) < c.started_ms <= start for c in self.fleet.controls)

    def _ended_plans_stay_shut(self, entries: list[_Entry]) -> None:
        """A window opens only if it was planned, and never once cancelled or replaced."""
        planned: set[tuple[str, str | None]] = {
            (e.account, e.plan) for e in entries if e.action in ("disarm", "off") and e.plan
        }
        ended: dict[tuple[str, str | None], int] = {}
        for e in entries:
            if e.action in ("plan-replace", "plan-cancel"):
                ended.setdefault((e.account, e.plan), e.at_ms)
        # A plan's own audit entry may be lost to a DynamoDB fault (the audit is best effort): an
        # operator's request for a window starting then counts as its planning too.
        asked = {int(c.kwargs["starts_at_ms"]) for c in self.fleet.controls if c.kwargs.get("starts_at_ms")}
        for e in entries:
            if e.action != "scheduled-disarm":
                continue
            key = (e.account, e.plan)
            if key not in planned and int(e.details.get("from_ms", -1)) in asked:
                planned.add(key)
            if key not in planned or (key in ended and ended[key] <= e.at_ms):
                why = "never planned" if key not in planned else f"ended at {self.rel(ended[key]):.1f}s"
                self.violate("P5 plans kept", f"{e.account}: window {e.plan} opened, {why}")

    def _windows_hold(self, entries: list[_Entry]) -> None:
        """Promise 5 for a planned window: from the tick that opened it until its end, no sweep
        lands (unless a kill, an arm or another disarm came since)."""
        for e in entries:
            if e.action != "scheduled-disarm":
                continue
            until = int(e.details.get("until_ms", 0))
            later = [c.started_ms for c in self.fleet.controls if c.action in ("kill", "arm", "disarm")]
            stop = min([until, *(t for t in later if t > e.at_ms)])
            swept = self.sweep_inside({e.account}, e.at_ms, stop)
            if swept is not None:
                at, account, oid = swept
                self.violate(
                    "P5 disarmed: no sweep",
                    f"{account}: order {oid} swept at {self.rel(at):.1f}s inside planned window {e.plan} "
                    f"(opened {self.rel(e.at_ms):.1f}s, until {self.rel(until):.1f}s)",
                )
