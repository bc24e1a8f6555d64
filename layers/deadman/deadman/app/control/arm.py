"""Arm: back to armed from disarmed or killed (POST /arm).

Back to armed from disarmed or killed (conditional write); clears `dead_since_ms` so that a
trader still dead is detected again and swept. Arm means "protect now": it then runs the refresher's
own tick for the switches it armed, so a live trader's venue timer is set at once from a fresh beat
(a timer the kill found standing that no killed tick has switched off yet, set on a beat from
before the kill, is replaced before it can fire on orders rested after the arm) and a dead trader's
book is swept at once. The refresher ticks on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from deadman.app.control.results import (
    ArmResult,
    ArmSwitchResult,
    PlanOut,
    VenueProblem,
)
from deadman.app.control.toolkit import (
    INFLIGHT_MARGIN_MS,
    Caller,
    Target,
    Toolkit,
    describe,
    iso,
)
from deadman.app.refresh.report import AccountTick
from deadman.app.refresh.tick import Ticker
from deadman.core.plans import ALL, Plan
from deadman.core.policy import INTENT_WINDOW_MS, TRANSIT_MS, Mode
from deadman.core.venue import VenueClient
from deadman.stores.switches import Switch
from deadman.venues import SPECS

# A fence read that got no answer may itself land late - after the sweep it was to fence - so it is
# made again (signed later) until one answers, at most this many times.
FENCE_TRIES = 3


def arm(
    kit: Toolkit,
    *,
    reason: str,
    venues: Sequence[str] | None,
    accounts: Sequence[str] | None,
    caller: Caller,
    cancel_plans: Sequence[str] | None = None,
) -> ArmResult:
    targets, problems = kit.resolve(venues, accounts)
    now = kit.clock()
    current = {t.name: kit.switches.get(t.venue, t.account_id) for t in targets}
    wanted = frozenset(cancel_plans or ())
    unknown = _unknown(cancel_plans, [current[t.name] for t in targets])
    kit.metrics.count("ArmRequests")
    results = []
    # Switches this arm takes out of a kill (their sweeps may still land), with what they record in flight.
    killed: list[tuple[Target, int | None]] = []
    for target in targets:
        switch = current[target.name]
        result = ArmSwitchResult(
            venue=target.venue,
            account=target.account_id,
            previous_mode=switch.mode.value,
            mode=switch.mode.value,
            changed=False,
        )
        results.append(result)
        if not _disarmed(switch) and not _cancels(switch, wanted, now):
            result.plans_kept = [PlanOut.of(p) for p in switch.plans]
            kit.audit(target, "arm", caller, reason, "already armed", {})
            continue
        if (
            kit.config.arm_needs_second_person
            and switch.mode is Mode.KILLED
            and switch.changed_by == caller.identity
        ):
            result.error = (
                "two-person rule: you killed this switch; someone else must arm it "
                "(ArmAfterKillNeedsSecondPerson)"
            )
            kit.audit(target, "arm", caller, reason, f"refused: {result.error}", {})
            continue
        written = kit.write_mode(
            target, switch, partial(_armed, wanted, reason, caller, now), refuse_killed=False
        )
        if isinstance(written, str):
            result.error = written
            kit.audit(
                target, "arm", caller, reason, f"failed: {result.error}", {"previous_mode": switch.mode.value}
            )
            continue
        before, after = written
        result.previous_mode, result.mode = before.mode.value, after.mode.value
        result.changed = _disarmed(before)
        if before.mode is Mode.KILLED:
            killed.append((target, before.inflight_until_ms))
        result.plans_kept = [PlanOut.of(p) for p in after.plans]
        result.plans_cancelled = [PlanOut.of(p) for p in before.plans if p not in after.plans]
        kit.audit(
            target,
            "arm",
            caller,
            reason,
            f"armed (was {result.previous_mode})" if result.changed else "already armed",
            {"previous_mode": result.previous_mode},
        )
        for plan in result.plans_cancelled:
            why = "cancelled" if plan.id in wanted or ALL in wanted else "ended by the arm (already due)"
            kit.audit(target, "plan-cancel", caller, reason, why, plan.model_dump())
    armed = [t for t, r in zip(targets, results, strict=True) if r.changed and t.account is not None]
    reads, read_at = _fence_plan(kit, killed)
    fenced = {t.name for t, _ in reads}
    # The switches with nothing to fence are ticked at once; the others once their kill key is fenced.
    _tick_now(kit, [t for t in armed if t.name not in fenced], results)
    _fence(kit, reads, read_at)
    _tick_now(kit, [t for t in armed if t.name in fenced], results)
    return _answer(kit, now, reason, caller, results, problems, unknown)


def _fence_plan(
    kit: Toolkit, killed: list[tuple[Target, int | None]]
) -> tuple[list[tuple[Target, VenueClient]], int | None]:
    """A killed switch is swept on its kill key, by the kill and then at every tick; such a sweep can
    land after the arm has answered and cancel what the trader rests then - even one its client gave
    up on, landing later still. Where a later nonce makes the venue refuse an earlier one on the same
    key, one read on the kill key, signed after every such request left, fences them all. Which kill
    keys to read, and from when: once a tick request the switch records in flight has left (its
    send-by, not its landing; a stored window further out than any request can be is not believed)."""
    reads: list[tuple[Target, VenueClient]] = []
    leave_by: list[int] = []
    for target, inflight_until_ms in killed:
        account = target.account
        if account is None or not account.has_kill_key:
            continue
        try:
            client = kit.client_factory(target.venue, account.for_kill(), kit.kill_timeout)
        except Exception as exc:  # no nonce source (break-glass tools), say
            kit.log("kill key not fenced", switch=target.name, error=describe(exc))
            continue
        if not client.capabilities.later_nonce_fences:
            continue
        reads.append((target, client))
        if inflight_until_ms is not None:
            leave_by.append(inflight_until_ms - TRANSIT_MS)
    read_at = min(max(leave_by), kit.clock() + INTENT_WINDOW_MS) + INFLIGHT_MARGIN_MS if leave_by else None
    return reads, read_at


def _fence(kit: Toolkit, reads: list[tuple[Target, VenueClient]], read_at: int | None) -> None:
    """The reads `_fence_plan` named, at their time, each made again while it gets no answer: one
    that timed out may land after the straggler it was to fence (seed 8003515), and only an answered
    read is known to have landed. Best effort: the arm stands either way, and the log says when it
    could not."""
    if reads and read_at is not None:
        kit.sleep_until(read_at)
    for target, client in reads:
        for attempt in range(1, FENCE_TRIES + 1):
            try:
                client.open_orders()
                break
            except Exception as exc:
                kit.log("kill key not fenced", switch=target.name, attempt=attempt, error=describe(exc))


def _unknown(cancel_plans: Sequence[str] | None, switches: list[Switch]) -> list[str]:
    """Plan ids to cancel that are on none of the targeted switches: already opened, ended, cancelled
    or mistyped. They never hold the arm back (arm is the protective button); the answer names them."""
    known = {p.id for s in switches for p in s.plans} | {ALL}
    return sorted(set(cancel_plans or ()) - known)


def _disarmed(switch: Switch) -> bool:
    return switch.mode is not Mode.ARMED or switch.disarmed_until_ms is not None


def _cancels(switch: Switch, wanted: frozenset[str], now: int) -> list[Plan]:
    """The plans an arm ends: those asked for, and those already due (arm means protect now: a
    window due but not yet opened, on a killed switch say, must not disarm it after the arm)."""
    return [p for p in switch.plans if ALL in wanted or p.id in wanted or p.from_ms <= now]


def _armed(wanted: frozenset[str], reason: str, caller: Caller, now: int, s: Switch) -> Switch:
    kept = tuple(p for p in s.plans if p not in _cancels(s, wanted, now))
    if not _disarmed(s):
        return dataclasses.replace(s, plans=kept)  # only plans cancelled: the arm itself stands
    return dataclasses.replace(
        s,
        mode=Mode.ARMED,
        disarmed_until_ms=None,
        # Forget the death episode: a trader still dead is detected afresh and swept.
        dead_since_ms=None,
        reason=reason,
        changed_by=caller.identity,
        changed_at_ms=now,
        off=False,
        plans=kept,
    )


def _answer(
    kit: Toolkit,
    now: int,
    reason: str,
    caller: Caller,
    results: list[ArmSwitchResult],
    problems: dict[str, str],
    unknown: list[str],
) -> ArmResult:
    ok = not problems and not unknown and all(r.error is None for r in results)
    changed = sum(r.changed for r in results)
    already = len(results) - changed - sum(r.error is not None for r in results)
    message = (
        f"armed {changed} switch(es), {already} already armed; each armed switch was ticked at once "
        "(extended if its trader is alive, swept if not)"
    )
    cancelled = sorted({p.id for r in results for p in r.plans_cancelled})
    kept = sorted({p.id for r in results for p in r.plans_kept})
    if cancelled:
        message += f"; planned windows cancelled: {', '.join(cancelled)}"
    if kept:
        message += (
            f"; planned windows still ahead (each will disarm its switches): {', '.join(kept)} "
            "(`deadman arm --cancel-plan ID` cancels one)"
        )
    if unknown:
        message += (
            f"; NOT cancelled: no planned window {', '.join(unknown)} on the targeted switches (already "
            "opened, ended or cancelled, or mistyped: `deadman status` lists the plans)"
        )
    failed = [f"{r.venue}/{r.account}" for r in results if r.error] + list(problems)
    if failed:
        message += "; failed: " + ", ".join(failed)
    return ArmResult(
        ok=ok,
        at_ms=now,
        actor=caller.identity,
        reason=reason,
        switches=results,
        venue_problems=[VenueProblem(venue=v, error=e) for v, e in problems.items()],
        message=message,
    )


def _tick_now(kit: Toolkit, targets: list[Target], results: list[ArmSwitchResult]) -> None:
    """The refresher's tick, run here for the switches this arm changed: the same decision, intent,
    request and record as the loop's (which ticks on as well; conditional writes settle any race)."""
    if kit.liveness is None or kit.credentials is None or kit.nonces is None:
        return
    by_name = {f"{r.venue}/{r.account}": r for r in results}
    for venue in sorted({t.venue for t in targets}):
        accounts = frozenset(t.account_id for t in targets if t.venue == venue)
        ticker = Ticker(
            venue=venue,
            config=kit.config,
            switches=kit.switches,
            liveness=kit.liveness,
            credentials=kit.credentials,
            nonces=kit.nonces,
            clock=kit.clock,
            metrics=kit.metrics,
            log=kit.log,
            client_factory=_factory(kit, venue),
            sleep=kit.sleep,
            parallel=kit.parallel,
        )
        try:
            report = ticker.tick(only=accounts)
        except Exception as exc:  # the arm stands; the refresher's next tick does the same
            for account in accounts:
                by_name[
                    f"{venue}/{account}"
                ].protected = f"not ticked: {describe(exc)}; the refresher's next tick will"
            continue
        for tick in report.accounts:
            by_name[f"{venue}/{tick.account}"].protected = _protected(
                tick, has_timer=SPECS[venue].capabilities.has_timer
            )


def _factory(kit: Toolkit, venue: str) -> Callable[[Any], VenueClient]:
    def make(account: Any) -> VenueClient:
        return kit.client_factory(venue, account, kit.control_timeout)

    return make


def _protected(tick: AccountTick, *, has_timer: bool) -> str:
    if tick.extended_to_ms is not None:
        return f"venue timer set to {iso(tick.extended_to_ms)} from a fresh beat"
    if tick.swept is not None:
        return f"the trader is dead: swept, {tick.swept} cancelled"
    why = tick.error or tick.note or (tick.decision.reason if tick.decision else "")
    if not has_timer and tick.error is None and tick.decision is not None and not tick.decision.dead:
        return "the trader is alive: watched (no venue timer: the watchdog sweeps if it dies)"
    return f"not extended ({why}); the refresher's next tick tries again"
