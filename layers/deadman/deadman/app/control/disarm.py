"""Disarm: no sweep and no liveness-gated extension for a bounded time, now or in a planned window
(POST /disarm).

Bounded by the stack parameter MaxDisarmSeconds (an off period by MaxOffSeconds); refused (409) on a
killed switch: arm first. Conditional write; then any venue request a tick had in flight is
outwaited (a sweep decided before the disarm must not land after its answer), and the venue timers
are deferred: set to fire S + T + G after the disarm's end, as if the trader's last beat came then,
so that the book is protected after the end even if the fleet is gone by then. With `timer_off`
(Kraken's maintenance, when an armed timer cancels every order as the engine returns) they are
switched off instead, and after the end only the watchdog protects the book until the first tick
extends again. Gemini cannot be disarmed at the venue: the fleet keeps heartbeating that key until
the disarm ends. The refresher re-arms by itself at the end time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial

from deadman.app.control.plans import not_disarmed, plan_disarm
from deadman.app.control.results import (
    DisarmResult,
    DisarmSwitchResult,
    TimerOutcome,
    VenueProblem,
)
from deadman.app.control.toolkit import (
    INFLIGHT_MARGIN_MS,
    MAX_INFLIGHT_WAIT_MS,
    MIN_PASS_MS,
    Caller,
    ConflictError,
    RequestError,
    Target,
    Toolkit,
    describe,
    iso,
)
from deadman.core.policy import Mode, deferred_deadline, leading
from deadman.core.starts import past_start_problem
from deadman.core.venue import close_client
from deadman.stores.switches import Switch
from deadman.venues import SPECS
from deadman.venues.errors import NotSupportedError, RateLimitError, VolumeGateError

# A venue call refused for its rate is tried once more after this long.
RATE_LIMIT_PAUSE_S = 1.1
# A planned disarm may start at most this far ahead (a maintenance announced a week ahead).
MAX_PLAN_AHEAD_MS = 7 * 86_400_000


# API Gateway gives up on an integration after 29 s; answer well before, whatever the venues do.
DISARM_BUDGET_MS = 24_000


def disarm(
    kit: Toolkit,
    *,
    reason: str,
    for_seconds: int,
    venues: Sequence[str] | None,
    accounts: Sequence[str] | None,
    caller: Caller,
    budget_ms: int = DISARM_BUDGET_MS,
    starts_at_ms: int | None = None,
    off: bool = False,
    timer_off: bool = False,
    replaces: str | None = None,
) -> DisarmResult:
    _check_length(kit, for_seconds, off)
    started = kit.clock()
    if starts_at_ms is not None and (problem := past_start_problem(starts_at_ms, started)):
        raise RequestError(problem + " Nothing was changed.")
    # None, or a start within the tolerance of the past, is now; a start ahead is a plan.
    plan_start = starts_at_ms if starts_at_ms is not None and starts_at_ms > started else None
    if replaces is not None and plan_start is None:
        raise RequestError(
            "replaces names the planned window a new plan takes the place of: give starts_at_ms too "
            "(a disarm from now replaces nothing). Nothing was changed."
        )
    if plan_start is not None and plan_start - started > MAX_PLAN_AHEAD_MS:
        raise RequestError(
            f"starts_at_ms is more than {MAX_PLAN_AHEAD_MS // 86_400_000} days ahead; plan it later"
        )
    targets, problems = kit.resolve(venues, accounts)
    until = started + for_seconds * 1000
    current = {t.name: kit.switches.get(t.venue, t.account_id) for t in targets}
    killed = [t for t in targets if current[t.name].mode is Mode.KILLED]
    action = "off" if off else "disarm"
    if killed:
        for target in killed:
            # Under the action asked for: an off period refused is on the record as one.
            kit.audit(target, action, caller, reason, "refused: switch is killed", {})
        names = [t.name for t in killed]
        raise ConflictError(
            f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} killed: a killed switch is never "
            "disarmed. Arm it first (POST /arm), then disarm. Nothing was changed.",
            names,
        )
    kit.metrics.count("DisarmRequests")
    if plan_start is not None:
        return plan_disarm(
            kit,
            targets,
            problems,
            current,
            reason=reason,
            for_seconds=for_seconds,
            caller=caller,
            starts_at_ms=plan_start,
            off=off,
            timer_off=timer_off,
            replaces=replaces,
        )

    def disarmed(s: Switch) -> Switch:
        return dataclasses.replace(
            s,
            mode=Mode.DISARMED,
            disarmed_until_ms=until,
            reason=reason,
            changed_by=caller.identity,
            changed_at_ms=started,
            off=off,
            timer_off=timer_off,
        )

    results: dict[str, DisarmSwitchResult] = {}
    windows: list[int] = []
    for target in targets:
        result = results[target.name] = not_disarmed(target, current[target.name])
        written = kit.write_mode(target, current[target.name], disarmed, refuse_killed=True)
        if isinstance(written, str):
            result.error = written
            continue
        before, after = written
        result.disarmed, result.mode, result.disarmed_until_ms = True, after.mode.value, until
        if before.inflight_until_ms is not None and before.inflight_until_ms > started:
            windows.append(before.inflight_until_ms)
    if windows:
        # A tick's request in flight before our write may still land: outwait it. An extension would
        # set the timer back to the beat's deadline right after we deferred it (or switched it off);
        # a sweep decided on the trader's death would cancel the book the disarm is to keep.
        cap = min(started + budget_ms - MIN_PASS_MS, kit.clock() + MAX_INFLIGHT_WAIT_MS)
        kit.sleep_until(min(max(windows) + INFLIGHT_MARGIN_MS, cap))
    disarmed_targets = [t for t in targets if results[t.name].disarmed]
    _venues_off(
        kit, disarmed_targets, results, problems, started + budget_ms, until=until, timer_off=timer_off
    )
    for target in targets:
        result = results[target.name]
        done = "off" if off else "disarmed"
        outcome = (done if result.disarmed else f"not {done}") + f"; venue timer {result.venue_timer}"
        kit.audit(
            target,
            action,
            caller,
            reason,
            outcome + (f": {result.error}" if result.error else ""),
            {"until_ms": until, "for_seconds": for_seconds, "timer_off": timer_off},
        )
    return _disarm_result(kit, targets, results, problems, caller, reason, started, until, for_seconds, off)


def _check_length(kit: Toolkit, for_seconds: int, off: bool) -> None:
    """A disarm is bounded by MaxDisarmSeconds; an off period, declared as such, by MaxOffSeconds."""
    if off and kit.config.max_off_ms <= 0:
        raise RequestError("off periods are not allowed on this stack (its parameter MaxOffSeconds is 0)")
    limit, parameter = (
        (kit.config.max_off_ms, "MaxOffSeconds") if off else (kit.config.max_disarm_ms, "MaxDisarmSeconds")
    )
    if for_seconds < 1 or for_seconds * 1000 > limit:
        hint = ""
        if not off and kit.config.max_off_ms > limit and for_seconds * 1000 <= kit.config.max_off_ms:
            hint = " (a longer, deliberate absence such as a weekend is an off period: pass off)"
        raise RequestError(
            f"for_seconds must be between 1 and {limit // 1000} (this stack parameter {parameter}); "
            f"got {for_seconds}{hint}"
        )


def _venues_off(
    kit: Toolkit,
    targets: list[Target],
    results: dict[str, DisarmSwitchResult],
    problems: dict[str, str],
    deadline: int,
    *,
    until: int,
    timer_off: bool,
) -> None:
    for target in targets:
        if target.account is None:
            results[target.name].venue_timer = "failed"
            results[target.name].error = f"venue timer not set: {problems.get(target.venue)}"
    with_creds = [t for t in targets if t.account is not None]
    deferred = None if timer_off else deferred_deadline(until, kit.config.timing)
    offs = kit.run_parallel(with_creds, partial(_venue_timer, kit, deferred), deadline)
    for target in with_creds:
        result = results[target.name]
        late: tuple[TimerOutcome, int | None, str | None, str | None] = (
            "failed",
            None,
            "no answer in time",
            None,
        )
        timer, at_ms, error, note = offs.get(target.name) or late
        result.venue_timer, result.error = timer, error
        if note:
            result.notes.append(note)
        if timer in ("off", "none", "deferred"):
            kit.update(target, partial(_record_timer, at_ms))


def _record_timer(deadline_ms: int | None, switch: Switch) -> Switch:
    """Where the disarm left the venue timer, on the record (unless the switch changed mode since)."""
    return dataclasses.replace(switch, deadline_ms=deadline_ms) if switch.mode is Mode.DISARMED else switch


def _venue_timer(
    kit: Toolkit, deferred: int | None, target: Target
) -> tuple[TimerOutcome, int | None, str | None, str | None]:
    """The venue timer as the disarm leaves it: deferred to `deferred`, or off when that is None.
    (outcome, where the venue timer now fires, error, note)"""
    if not SPECS[target.venue].capabilities.has_timer:
        # Nothing at the venue to defer or switch off (its own switch drops with a WebSocket the
        # fleet does not hold): the disarm is the watchdog held, and no venue call is made.
        return "none", None, None, "no venue timer (watchdog only): nothing to defer or switch off"
    if target.account is None:
        return "failed", None, "no usable credentials for this venue (its secret)", None
    try:
        client = kit.client_factory(target.venue, target.account, kit.control_timeout)
    except Exception as exc:
        return "failed", None, describe(exc), None
    try:
        if deferred is None or not client.capabilities.can_disarm:
            client.disarm()
            return "off", None, None, None
        deferred = leading(deferred, kit.clock(), client.capabilities)
        try:
            outcome = client.extend(deferred)
        except RateLimitError:
            # A timer a venue lets be set about once a second (OKX, per tag) was just set by a tick:
            # once more, a second later, rather than leave the deferral to the next tick.
            kit.sleep(RATE_LIMIT_PAUSE_S)
            outcome = client.extend(leading(deferred, kit.clock(), client.capabilities))
        return "deferred", outcome.venue_deadline_ms or deferred, None, None
    except NotSupportedError:
        return "not_supported", None, None, "the venue cannot be disarmed: the fleet keeps heartbeating"
    except VolumeGateError:
        return "none", None, None, "no venue timer: the volume gate keeps this account on the watchdog alone"
    except Exception as exc:
        return "failed", None, describe(exc), None
    finally:
        close_client(client)


def _disarm_result(
    kit: Toolkit,
    targets: list[Target],
    results: dict[str, DisarmSwitchResult],
    problems: dict[str, str],
    caller: Caller,
    reason: str,
    started: int,
    until: int,
    for_seconds: int,
    off: bool = False,
) -> DisarmResult:
    notes: list[str] = []
    if off:
        notes.append(
            "an off period: the trading system's death is not alarmed while every switch it gates is "
            "off; its orders rest unprotected until then (a heartbeat venue: heartbeated, as in any disarm)"
        )
    for spec in sorted({SPECS[t.venue] for t in targets if results[t.name].disarmed}, key=lambda v: v.name):
        caps = spec.capabilities
        if caps.can_disarm or caps.fixed_timeout_ms is None:
            continue
        # A heartbeat rule that belongs to the key (Gemini): nothing at the venue can switch it off.
        notes.append(
            f"{spec.title} cannot be disarmed at the venue: the heartbeat timer is a property of the API "
            f"key. The fleet keeps heartbeating the {spec.title} keys regardless of liveness until the "
            f"disarm ends ({iso(until)}); after that {spec.title} cancels a dead trader's orders "
            f"{caps.fixed_timeout_ms // 1000} s after the last heartbeat."
        )
    notes.append(
        f"the switches re-arm by themselves at {iso(until)}; the next tick then extends only if the "
        "trader is alive"
    )
    ordered = [results[t.name] for t in targets]
    bad = [f"{r.venue}/{r.account}" for r in ordered if not r.disarmed or r.venue_timer == "failed"]
    ok = not bad and not problems
    done = "switched off" if off else "disarmed"
    message = f"{done} {sum(r.disarmed for r in ordered)}/{len(ordered)} switch(es) until {iso(until)}"
    if not ok:
        message += (
            f"; incomplete: {', '.join(bad + list(problems))} (a disarmed switch whose venue timer is "
            "not yet as asked is set by the refresher at its next tick)"
        )
    return DisarmResult(
        ok=ok,
        at_ms=started,
        until_ms=until,
        for_seconds=for_seconds,
        actor=caller.identity,
        reason=reason,
        off=off,
        switches=ordered,
        venue_problems=[VenueProblem(venue=v, error=e) for v, e in problems.items()],
        notes=notes,
        message=message,
    )
