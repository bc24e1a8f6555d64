"""Planned disarms: a disarm (or off period) that starts later, several per switch (POST /disarm
with `starts_at_ms`).

A plan changes nothing at the venues now; the refresher's first tick at or after its start opens it.
A dropped plan is the book wipe it was made to prevent (Kraken's maintenance with a timer armed), so
none goes without a word: one that would overlap another is refused unless it names the plan it
`replaces`, and the replacement is audited (and so notified) on its own. Arm keeps the plans ahead
and cancels one only when asked (`deadman.app.control.arm`).
"""

from __future__ import annotations

import dataclasses

from deadman.app.control.results import DisarmResult, DisarmSwitchResult, VenueProblem
from deadman.app.control.toolkit import Caller, ConflictError, Target, Toolkit, iso
from deadman.core.plans import MAX_PLANS, Plan, clashes, ordered, plan_id
from deadman.stores.switches import Switch


def plan_disarm(
    kit: Toolkit,
    targets: list[Target],
    problems: dict[str, str],
    current: dict[str, Switch],
    *,
    reason: str,
    for_seconds: int,
    caller: Caller,
    starts_at_ms: int,
    off: bool = False,
    timer_off: bool = False,
    replaces: str | None = None,
) -> DisarmResult:
    """A disarm that starts later (Kraken's announced maintenance, say): recorded on each switch
    now, applied by the refresher's first tick at or after `starts_at_ms` (venue timers deferred or
    switched off then, re-armed by itself at the end like any disarm). Nothing changes at the venues
    now. A switch keeps several plans; one that would overlap another is refused unless it names the
    one it `replaces` (a plan that vanished unseen is the book wipe it was made to prevent)."""
    now = kit.clock()
    until = starts_at_ms + for_seconds * 1000
    plan = Plan(
        id=plan_id(starts_at_ms, until, caller.identity, now),
        from_ms=starts_at_ms,
        until_ms=until,
        by=caller.identity,
        reason=reason,
        off=off,
        timer_off=timer_off,
    )
    action = "off" if off else "disarm"
    refusals = {t.name: why for t in targets if (why := _plan_refused(current[t.name], plan, replaces))}
    if refusals:
        for target in targets:
            if target.name in refusals:
                kit.audit(target, action, caller, reason, f"refused: {refusals[target.name]}", plan.to_item())
        raise ConflictError(
            "; ".join(f"{name}: {why}" for name, why in refusals.items()) + ". Nothing was changed.",
            sorted(refusals),
        )

    def planned(s: Switch) -> Switch:
        # Checked again on the switch as written: another plan may have landed since the read.
        if why := _plan_refused(s, plan, replaces):
            raise _PlanRefused(why)
        return dataclasses.replace(s, plans=ordered([*(p for p in s.plans if p.id != replaces), plan]))

    results: dict[str, DisarmSwitchResult] = {}
    for target in targets:
        result = results[target.name] = not_disarmed(target, current[target.name])
        try:
            written = kit.write_mode(target, current[target.name], planned, refuse_killed=True)
        except _PlanRefused as exc:
            written = f"not planned: {exc}"
        if isinstance(written, str):
            result.error = written.replace("not disarmed", "not planned")
        else:
            result.scheduled, result.disarmed_until_ms = True, until
        details = {**plan.to_item(), "for_seconds": for_seconds}
        kit.audit(
            target,
            action,
            caller,
            reason,
            f"planned: {iso(starts_at_ms)} to {iso(until)} ({plan.id})"
            + (f", replacing {replaces}" if replaces else "")
            if result.scheduled
            else f"not planned: {result.error}",
            details,
        )
        if result.scheduled and replaces:
            # Its own entry, so that the alert says in its title that a plan was replaced.
            replaced = next(p for p in current[target.name].plans if p.id == replaces)
            kit.audit(target, "plan-replace", caller, reason, f"replaced by {plan.id}", replaced.to_item())
    ordered_results = [results[t.name] for t in targets]
    bad = [f"{r.venue}/{r.account}" for r in ordered_results if not r.scheduled]
    ok = not bad and not problems
    message = (
        f"planned {'an off period' if off else 'a disarm'} ({plan.id}) of "
        f"{sum(r.scheduled for r in ordered_results)}/{len(ordered_results)} switch(es) from "
        f"{iso(starts_at_ms)} until {iso(until)}" + (f", replacing {replaces}" if replaces else "")
    )
    if not ok:
        message += f"; not planned: {', '.join(bad + list(problems))}"
    return DisarmResult(
        ok=ok,
        at_ms=now,
        starts_at_ms=starts_at_ms,
        until_ms=until,
        for_seconds=for_seconds,
        actor=caller.identity,
        reason=reason,
        off=off,
        plan_id=plan.id,
        replaced=replaces,
        switches=ordered_results,
        venue_problems=[VenueProblem(venue=v, error=e) for v, e in problems.items()],
        notes=[
            "the refresher's first tick at or after the start disarms each switch and "
            + ("switches its venue timer off" if timer_off else "defers its venue timer to the end")
            + " (a venue that cannot be disarmed is heartbeated); "
            + f"`deadman arm --cancel-plan {plan.id}` cancels it"
        ],
        message=message,
    )


class _PlanRefused(Exception):
    """A plan that cannot be written on the switch as it now stands (nothing written)."""


def _plan_refused(switch: Switch, plan: Plan, replaces: str | None) -> str | None:
    """Why `plan` cannot join the switch's plans, or None."""
    if replaces is not None and all(p.id != replaces for p in switch.plans):
        return f"no planned window {replaces} to replace (`deadman status` lists the plans)"
    clash = clashes(switch.plans, plan.from_ms, plan.until_ms, replacing=replaces)
    if clash:
        named = ", ".join(
            f"{p.id} ({iso(p.from_ms)} to {iso(p.until_ms)}, by {p.by}: {p.reason})" for p in clash
        )
        return (
            f"overlaps the planned window {named}; replace it (disarm --replace ID) or cancel it "
            "(arm --cancel-plan ID) first"
        )
    if len([p for p in switch.plans if p.id != replaces]) >= MAX_PLANS:
        return f"already has {MAX_PLANS} planned windows; cancel one first (arm --cancel-plan ID)"
    return None


def not_disarmed(target: Target, current: Switch) -> DisarmSwitchResult:
    """A switch's line in a disarm's answer before anything was written."""
    return DisarmSwitchResult(
        venue=target.venue,
        account=target.account_id,
        mode=current.mode.value,
        disarmed=False,
        disarmed_until_ms=None,
        venue_timer="not_attempted",
    )
