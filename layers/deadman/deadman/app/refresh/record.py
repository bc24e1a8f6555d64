"""What a tick writes besides its venue requests: the switch (every write conditional on the version
read), the transitions it audits, and what the loop remembers for when the table will not answer.

Memory, and how far it is trusted. A switch the table will not return is judged by the last state
the table confirmed to this loop (read, written, or carried by a refused write):
- a kill, for MEMORY_TRUST_TICKS only: an operator may have armed since, and a remembered kill acted
  on after that would sweep a live trader;
- anything else, however old: the worst an unseen change could make of it is a sweep of a trader
  that is dead anyway (a disarm's end is honoured, a dead trader is swept), and an extension always
  needs its intent written, which a table that cannot be read or written refuses.
Before memory, a write that cannot apply is asked (its refusal carries the item), for the table that
refuses reads but takes writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from deadman.app.refresh.report import AccountTick
from deadman.core.clock import Clock
from deadman.core.config import FleetConfig
from deadman.core.liveness import Liveness
from deadman.core.metrics import MetricsSink
from deadman.core.policy import Decision, Mode, triggers_today, utc_date
from deadman.core.venue import Capabilities
from deadman.stores.switches import Switch, SwitchConflict, SwitchStore

ACTOR = "refresher"
MEMORY_TRUST_TICKS = 2
_TRANSITIONS = frozenset(
    {"auto-arm", "venue-timer-fired", "fired", "recovered", "scheduled-disarm", "scheduled-disarm-missed"}
)


class Records:
    """The switch reads and writes of a tick, for the Ticker that inherits them."""

    venue: str
    config: FleetConfig
    switches: SwitchStore
    caps: Capabilities
    clock: Clock
    metrics: MetricsSink
    log: Callable[..., None]
    _known: dict[str, tuple[Switch, int]]

    def _read_switch(self, account_id: str, result: AccountTick) -> tuple[Switch, bool] | None:
        """The switch, and whether it is remembered rather than read now; None: nothing to act on."""
        try:
            switch = self.switches.get(self.venue, account_id)
        except Exception as exc:
            self.metrics.count("StoreErrors", venue=self.venue)
            self.log("switch unreadable", account=account_id, error=type(exc).__name__)
            return self._recall(account_id, type(exc).__name__, result)
        self._remember(switch)
        return switch, False

    def _recall(self, account_id: str, why: str, result: AccountTick) -> tuple[Switch, bool] | None:
        known = self._known.get(account_id)
        trust_ms = MEMORY_TRUST_TICKS * self.config.timing.tick_ms
        if known is not None and self.clock() - known[1] <= trust_ms:
            result.note = f"switch unreadable ({why}); acting on the last state read"
            return known[0], True
        try:
            # Known too long ago, or not at all: ask through a write that cannot apply; its refusal
            # carries the item (a table that refuses reads may still take writes).
            switch = self.switches.get_by_write(self.venue, account_id)
        except Exception:
            result.retry = True
            if known is None or known[0].mode is Mode.KILLED:
                result.note = f"switch unreadable ({why}); nothing it may act on is known: no action"
                return None
            result.note = f"switch unreadable ({why}); acting on the {known[0].mode.value} state last read"
            return known[0], True
        self._remember(switch)
        return switch, False

    def _remember(self, switch: Switch) -> None:
        self._known[switch.account] = (switch, self.clock())

    def _store(self, switch: Switch) -> Switch:
        try:
            stored = self.switches.put(switch)
        except SwitchConflict as exc:
            # The refused write says how the switch stands now (a kill, say): remembered, so the loop
            # acts on it even while the table cannot be read.
            if exc.current is not None:
                self._remember(exc.current)
            raise
        self._remember(stored)
        return stored

    def _record_after_conflict(
        self, account_id: str, current: Switch | None, now: int, deadline: int | None
    ) -> None:
        for _ in range(3):
            try:
                if current is None:
                    current = self.switches.get(self.venue, account_id)
                changes: dict[str, Any] = {"last_tick_ms": max(now, current.last_tick_ms or 0)}
                moved = deadline is not None and (
                    current.deadline_ms is None or current.deadline_ms < deadline
                )
                if moved:
                    changes["deadline_ms"] = deadline
                self._store(dataclasses.replace(current, **changes))
            except SwitchConflict as exc:
                current = exc.current
                continue
            except Exception as exc:
                self.log("tick not recorded", account=account_id, error=type(exc).__name__)
                return
            if moved:
                self._audit(
                    current,
                    "venue-timer-set",
                    "extension landed as the switch changed",
                    "ok",
                    now,
                    {"deadline_ms": deadline},
                )
            return

    def _bookkeeping(
        self, switch: Switch, decision: Decision, verdict: Liveness, now: int
    ) -> tuple[Switch, list[tuple[str, str, dict[str, Any]]]]:
        """State changes that follow from the decision alone, and the transitions to audit."""
        changes: dict[str, Any] = {}
        audit: list[tuple[str, str, dict[str, Any]]] = []
        done = {p.id for p in decision.windows_missed}
        for missed in decision.windows_missed:
            window = {"plan": missed.id, "from_ms": missed.from_ms, "until_ms": missed.until_ms}
            audit.append(("scheduled-disarm-missed", "the planned window ended before a tick saw it", window))
        if (plan := decision.window) is not None:
            done.add(plan.id)
            changes.update(
                mode=Mode.DISARMED,
                disarmed_until_ms=decision.window_until_ms,
                reason=plan.reason,
                changed_by=plan.by,
                changed_at_ms=now,
                off=plan.off,
                timer_off=plan.timer_off or (switch.mode is Mode.DISARMED and switch.timer_off),
            )
            window = {"plan": plan.id, "from_ms": plan.from_ms, "until_ms": decision.window_until_ms}
            audit.append(("scheduled-disarm", f"planned window: {plan.reason}", window))
        if done:
            changes["plans"] = tuple(p for p in switch.plans if p.id not in done)
        if decision.auto_arm:
            changes.update(
                mode=Mode.ARMED,
                disarmed_until_ms=None,
                timer_off=False,
                off=False,
                changed_by=ACTOR,
                changed_at_ms=now,
            )
            audit.append(("auto-arm", "disarm ended", {"disarmed_until_ms": switch.disarmed_until_ms}))
        if decision.native_fired:
            changes["deadline_ms"] = None
            details: dict[str, Any] = {"deadline_ms": switch.deadline_ms}
            if self.caps.daily_trigger_budget is not None:
                used = triggers_today(switch.view(), now) + 1
                changes.update(triggers_date=utc_date(now), triggers_count=used)
                details["triggers_today"] = used
            self.metrics.count("NativeFires", venue=self.venue)
            audit.append(("venue-timer-fired", "venue timer reached its deadline", details))
        if verdict.alive and verdict.beat_ms is not None:
            changes["last_beat_ms"] = verdict.beat_ms
        if decision.fired:
            changes["dead_since_ms"] = now
            audit.append(("fired", f"trader dead: {verdict.verdict.value}", {"detail": verdict.detail}))
        if decision.recovered:
            changes.update(dead_since_ms=None, sweep_rejected_ms=None)
            audit.append(("recovered", "trader alive again", {"beat_ms": verdict.beat_ms}))
        return dataclasses.replace(switch, **changes), audit

    def _audit(
        self, switch: Switch, action: str, reason: str, result: str, now: int, details: dict[str, Any]
    ) -> None:
        """`now` is the tick's judgement time (what a transition is dated); an action done later in the
        tick (a sweep, a timer change) is dated when it happened, so the log reads in causal order."""
        try:
            self.switches.audit(
                self.venue,
                switch.account,
                action=action,
                actor=ACTOR,
                reason=reason,
                result=result,
                now_ms=now if action in _TRANSITIONS else max(now, self.clock()),
                details=details,
            )
        except Exception as exc:  # the audit must never stop a tick; the log keeps the record
            self.metrics.count("StoreErrors", venue=self.venue)
            self.log(
                "audit write failed",
                account=switch.account,
                action=action,
                result=result,
                error=type(exc).__name__,
            )
