"""Arm: back to armed from disarmed or killed (POST /arm).

Back to armed from disarmed or killed (conditional write); clears `dead_since_ms` so that a
trader still dead is detected again and swept. Arm means "protect now": it then runs the refresher's
own tick for the switches it armed, so a live trader's venue timer is set at once from a fresh beat
(a timer a kill left running, set on a beat from before the kill, is replaced before it can fire on
orders rested after the arm) and a dead trader's book is swept at once. The refresher ticks on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from deadman.app.control.results import (
    ArmResult,
    ArmSwitchResult,
    VenueProblem,
)
from deadman.app.control.toolkit import Caller, Target, Toolkit, describe, iso
from deadman.app.refresh.report import AccountTick
from deadman.app.refresh.tick import Ticker
from deadman.core.policy import Mode
from deadman.core.venue import VenueClient


def arm(
    kit: Toolkit,
    *,
    reason: str,
    venues: Sequence[str] | None,
    accounts: Sequence[str] | None,
    caller: Caller,
) -> ArmResult:
    targets, problems = kit.resolve(venues, accounts)
    now = kit.clock()
    kit.metrics.count("ArmRequests")
    results = []
    for target in targets:
        current = kit.switches.get(target.venue, target.account_id)
        result = ArmSwitchResult(
            venue=target.venue,
            account=target.account_id,
            previous_mode=current.mode.value,
            mode=current.mode.value,
            changed=False,
        )
        results.append(result)
        planned = current.scheduled_from_ms is not None
        if current.mode is Mode.ARMED and current.disarmed_until_ms is None and not planned:
            kit.audit(target, "arm", caller, reason, "already armed", {})
            continue
        if (
            kit.config.arm_needs_second_person
            and current.mode is Mode.KILLED
            and current.changed_by == caller.identity
        ):
            result.error = (
                "two-person rule: you killed this switch; someone else must arm it "
                "(ArmAfterKillNeedsSecondPerson)"
            )
            kit.audit(target, "arm", caller, reason, f"refused: {result.error}", {})
            continue
        written = kit.write_mode(
            target,
            current,
            lambda s: dataclasses.replace(
                s,
                mode=Mode.ARMED,
                disarmed_until_ms=None,
                # Forget the death episode: a trader still dead is detected afresh and swept.
                dead_since_ms=None,
                reason=reason,
                changed_by=caller.identity,
                changed_at_ms=now,
                # Arm means "protect now": a planned disarm is cancelled too.
                scheduled_from_ms=None,
                scheduled_until_ms=None,
                scheduled_by=None,
                scheduled_reason=None,
                scheduled_off=False,
                off=False,
            ),
            refuse_killed=False,
        )
        if isinstance(written, str):
            result.error = written
        else:
            before, after = written
            result.previous_mode, result.mode, result.changed = before.mode.value, after.mode.value, True
        kit.audit(
            target,
            "arm",
            caller,
            reason,
            (f"armed (was {result.previous_mode})" + ("; planned disarm cancelled" if planned else ""))
            if result.changed
            else f"failed: {result.error}",
            {"previous_mode": result.previous_mode},
        )
    _tick_now(
        kit,
        [t for t, r in zip(targets, results, strict=True) if r.changed and t.account is not None],
        results,
    )
    ok = not problems and all(r.error is None for r in results)
    changed = sum(r.changed for r in results)
    already = len(results) - changed - sum(r.error is not None for r in results)
    message = (
        f"armed {changed} switch(es), {already} already armed; each armed switch was ticked at once "
        "(extended if its trader is alive, swept if not)"
    )
    if not ok:
        message += "; failed: " + ", ".join(
            [f"{r.venue}/{r.account}" for r in results if r.error] + list(problems)
        )
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
            by_name[f"{venue}/{tick.account}"].protected = _protected(tick)


def _factory(kit: Toolkit, venue: str) -> Callable[[Any], VenueClient]:
    def make(account: Any) -> VenueClient:
        return kit.client_factory(venue, account, kit.control_timeout)

    return make


def _protected(tick: AccountTick) -> str:
    if tick.extended_to_ms is not None:
        return f"venue timer set to {iso(tick.extended_to_ms)} from a fresh beat"
    if tick.swept is not None:
        return f"the trader is dead: swept, {tick.swept} cancelled"
    why = tick.error or tick.note or (tick.decision.reason if tick.decision else "")
    return f"not extended ({why}); the refresher's next tick tries again"
