"""Arm: back to armed from disarmed or killed (POST /arm).

Back to armed from disarmed or killed (conditional write); clears `dead_since_ms` so that a
trader still dead is detected again and swept at the next tick. The next tick extends only
if the trader is alive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from deadman.app.control.results import (
    ArmResult,
    ArmSwitchResult,
    VenueProblem,
)
from deadman.app.control.toolkit import Caller, Toolkit
from deadman.core.policy import Mode


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
    ok = not problems and all(r.error is None for r in results)
    changed = sum(r.changed for r in results)
    already = len(results) - changed - sum(r.error is not None for r in results)
    message = (
        f"armed {changed} switch(es), {already} already armed; the next tick extends only if the "
        "trader is alive"
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
