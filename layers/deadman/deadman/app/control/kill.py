"""Kill: latch every targeted switch to killed, then sweep every book (the control API's POST /kill).

Latch every targeted switch to killed FIRST (unconditional write: the latch bumps the
version, so any refresher that read before it can no longer record an extension), then
sweep every target in parallel with the account's kill credentials, bounded per call by the
client timeouts and overall by a time budget. Then wait until every refresher extension that
was already in flight at the latch has timed out (`inflight_until_ms`), so that nothing can
push a venue timer after the kill is acknowledged, and sweep those switches once more (plus
any whose first sweep failed). Hyperliquid's schedule is cleared after a complete sweep
(killed switches never extend, and each native fire costs one of 10 daily triggers); the other
venues' timers are switched off by the first killed tick that empties the book, on the trading key
that set them (`policy._decide`).
Idempotent: a second kill latches again and sweeps again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from deadman.app.control.results import (
    KillResult,
    KillSwitchResult,
    OrderFailureOut,
    SweepAttempt,
    VenueProblem,
)
from deadman.app.control.toolkit import (
    INFLIGHT_MARGIN_MS,
    LATCH_BUDGET_MS,
    MAX_INFLIGHT_WAIT_MS,
    MIN_PASS_MS,
    Caller,
    Target,
    Toolkit,
    describe,
)
from deadman.core.policy import Mode
from deadman.core.venue import Capabilities, SweepResult, VenueClient, close_client
from deadman.venues.errors import NonceError, NotSupportedError, VolumeGateError

# API Gateway gives up on an integration after 29 s; answer well before, whatever the venues do.
KILL_BUDGET_MS = 24_000


# Recording and auditing the sweeps may use part of the reply margin.
FINISH_GRACE_MS = 1_500
# A sweep whose nonce the venue refused as too small is tried this many times in all, each further ahead.
NONCE_TRIES = 4


def kill(
    kit: Toolkit,
    *,
    reason: str,
    venues: Sequence[str] | None,
    accounts: Sequence[str] | None,
    caller: Caller,
    budget_ms: int = KILL_BUDGET_MS,
    direct: bool = False,
) -> KillResult:
    """Latch, sweep in parallel, outwait what is in flight, sweep again, record.

    `direct` is break-glass, for when the API or AWS cannot be reached: the same sweep passes,
    with the kill credentials this Control was built with (`Control.break_glass`, a local file),
    and no latch and no audit, since nothing in AWS can be written. The fleet does not know about
    it: the caller records it with a kill through the API once that answers (which latches)."""
    started = kit.clock()
    deadline = started + budget_ms
    targets, problems = kit.resolve(venues, accounts)
    kit.metrics.count("KillRequests")
    results = {t.name: KillSwitchResult(venue=t.venue, account=t.account_id, latched=False) for t in targets}
    # 1. Latch every target before touching any venue: the latch is what stops extensions.
    open_windows = {} if direct else _latch_all(kit, targets, results, caller, reason, budget_ms)
    # 2. Sweep every target in parallel; 3. outwait in-flight extensions and sweep again.
    sweepable = [t for t in targets if t.account is not None]
    for target in targets:
        if target.account is None:
            results[target.name].notes.append(
                f"not swept: {problems.get(target.venue, 'no credentials')}; the refresher sweeps it "
                "at every tick once its credentials are readable"
            )
    _sweep_passes(kit, sweepable, open_windows, results, started, deadline)
    # 4. Record and audit the latch and what the sweeps did, after the sweeps: an audit append (a
    # read of its chain's head, then a write) must not hold a sweep back (bookkeeping: it may overrun
    # the budget a little).
    if not direct:
        kit.run_parallel(
            targets,
            lambda t: _finish_switch(kit, t, results[t.name], caller, reason, budget_ms),
            max(deadline, kit.clock()) + FINISH_GRACE_MS,
        )
    return _kill_verdict(kit, targets, sweepable, results, problems, started, caller, reason, direct=direct)


def _kill_verdict(
    kit: Toolkit,
    targets: list[Target],
    sweepable: list[Target],
    results: dict[str, KillSwitchResult],
    problems: dict[str, str],
    started: int,
    caller: Caller,
    reason: str,
    *,
    direct: bool = False,
) -> KillResult:
    for target in sweepable:  # the verdict does not wait for the bookkeeping
        result = results[target.name]
        result.swept = result.attempts[-1].ok
        result.cancelled_count = sum(a.cancelled_count for a in result.attempts)
        if not result.swept and result.error is None:
            result.error = result.attempts[-1].error or "sweep incomplete"

    ordered = [results[t.name] for t in targets]
    failed = [f"{r.venue}/{r.account}" for r in ordered if not ((r.latched or direct) and r.swept)]
    # A venue with no switch at all to name (secret unreadable, nothing stored yet) is named whole.
    failed.extend(f"{v}/*" for v in problems if v not in {t.venue for t in targets})
    ok = not failed and not problems
    swept = f"swept {sum(r.swept for r in ordered)}/{len(ordered)}" + (" directly" if direct else "")
    swept += f"; cancelled {sum(r.cancelled_count for r in ordered)} order(s)"
    if direct:
        message = f"break-glass: {swept}; nothing latched (the fleet does not know yet)"
    else:
        message = f"killed {sum(r.latched for r in ordered)}/{len(ordered)} switch(es); {swept}"
    if not ok:
        kit.metrics.count("KillIncomplete")
        message += f"; NOT done: {', '.join(failed) or ', '.join(problems)}."
        message += _what_next(ordered, problems, direct=direct)
    return KillResult(
        ok=ok,
        at_ms=started,
        elapsed_ms=kit.clock() - started,
        actor=caller.identity,
        reason=reason,
        switches=ordered,
        venue_problems=[VenueProblem(venue=v, error=e) for v, e in problems.items()],
        failed=failed,
        message=message,
    )


def _what_next(ordered: list[KillSwitchResult], problems: dict[str, str], *, direct: bool) -> str:
    """What the operator must know, and do, when a kill is not done: exactly what did not happen."""
    words = []
    latched = [f"{r.venue}/{r.account}" for r in ordered if r.latched]
    unlatched = [f"{r.venue}/{r.account}" for r in ordered if not r.latched]
    unswept = [f"{r.venue}/{r.account}" for r in ordered if not r.swept] + [f"{v}/*" for v in problems]
    if latched and not direct and unswept:
        words.append("Latched switches are swept again at every refresher tick.")
    if unlatched and not direct:
        words.append(
            f"NOT latched ({', '.join(unlatched)}; DynamoDB did not take the write): the fleet does not "
            "know of this kill and keeps extending those switches while their trader beats; kill again "
            "once `deadman status` answers."
        )
    if unswept:
        words.append(
            f"NOT swept ({', '.join(unswept)}): sweep from your machine with `deadman kill --direct` "
            "(break-glass, with the kill credentials file), and check `deadman status`."
        )
    return " " + " ".join(words) if words else ""


def _latch_all(
    kit: Toolkit,
    targets: list[Target],
    results: dict[str, KillSwitchResult],
    caller: Caller,
    reason: str,
    budget_ms: int,
) -> dict[str, int]:
    """Latch every target; returns switch name -> end of a refresher extension in flight at the
    latch (its intent was written before the latch, so the extension may still reach the venue)."""

    def latch(target: Target) -> int | None:
        result = results[target.name]
        try:
            switch = kit.switches.latch_kill(
                target.venue, target.account_id, actor=caller.identity, reason=reason, now_ms=kit.clock()
            )
        except Exception as exc:
            # Keep going: the sweep still empties the book, and the answer says 207.
            result.error = f"latch failed: {describe(exc)}"
            kit.log("kill latch failed", switch=target.name, error=result.error)
            return None
        result.latched = True
        latched_at = kit.clock()
        # Only an extension in flight must be outwaited (it could push a timer after the kill's
        # answer); a refresher sweep in flight only does what the kill does.
        window = switch.inflight_until_ms if switch.inflight_extends else None
        return window if window is not None and window > latched_at else None

    # In parallel and bounded: a slow DynamoDB must not hold the sweeps back for long.
    deadline = kit.clock() + min(LATCH_BUDGET_MS, budget_ms // 3)
    windows = kit.run_parallel(targets, latch, deadline)
    for target in targets:
        if target.name not in windows and results[target.name].error is None:
            results[target.name].error = "latch not confirmed within its time budget (DynamoDB slow?)"
    return {name: end for name, end in windows.items() if end is not None}


def _sweep_passes(
    kit: Toolkit,
    sweepable: list[Target],
    open_windows: dict[str, int],
    results: dict[str, KillSwitchResult],
    started: int,
    deadline: int,
) -> None:
    late = "no answer within the kill's time budget (the call may still land)"
    latched_ms = kit.clock()
    first = kit.run_parallel(sweepable, lambda t: _kill_sweep(kit, t, 1), deadline)
    for target in sweepable:
        results[target.name].attempts.append(first.get(target.name) or _failed_attempt(1, late))
    if open_windows:
        # Nothing may push a venue timer after this reply: wait until every extension that was
        # in flight at the latch has timed out (its intent came before the latch, so its window ends
        # at most MAX_INFLIGHT_WAIT_MS after the latch, well inside the kill's budget).
        cap = min(deadline - MIN_PASS_MS, latched_ms + MAX_INFLIGHT_WAIT_MS + INFLIGHT_MARGIN_MS)
        kit.sleep_until(min(max(open_windows.values()) + INFLIGHT_MARGIN_MS, cap))
    # Once more where an extension was in flight (a zombie's order may have rested meanwhile) or
    # where the first sweep failed (and is not still running).
    retry = [t for t in sweepable if t.name in open_windows or (t.name in first and not first[t.name].ok)]
    retry = _still_killed(kit, retry, results)
    if not retry:
        return
    if deadline - kit.clock() < MIN_PASS_MS:
        for target in retry:
            results[target.name].notes.append("no time left in the kill's budget for a second sweep")
        return
    second = kit.run_parallel(retry, lambda t: _kill_sweep(kit, t, 2), deadline)
    for target in retry:
        results[target.name].attempts.append(second.get(target.name) or _failed_attempt(2, late))
        if target.name in open_windows:
            results[target.name].notes.append(
                "a refresher extension was in flight at the latch: waited for it to time out, swept again"
            )


def _still_killed(kit: Toolkit, targets: list[Target], results: dict[str, KillSwitchResult]) -> list[Target]:
    """The targets an operator has not armed since the latch. The wait before a second pass can
    outlast an arm (up to 12 s); a sweep sent after it would take what the trader rests once armed,
    and where no later nonce fences it (BitMEX, Gate, OKX, Binance) nothing stops it landing. A
    switch that cannot be read, or that this kill could not latch, is swept again: the kill is what
    was asked."""
    kept = []
    for target in targets:
        if not results[target.name].latched:
            kept.append(target)
            continue
        try:
            armed = kit.switches.get(target.venue, target.account_id).mode is not Mode.KILLED
        except Exception as exc:
            kit.log("switch not read before the second sweep", switch=target.name, error=describe(exc))
            armed = False
        if armed:
            results[target.name].notes.append("armed before the second sweep: not swept again")
        else:
            kept.append(target)
    return kept


def _kill_sweep(kit: Toolkit, target: Target, attempt_no: int) -> SweepAttempt:
    started = kit.clock()
    if target.account is None:
        return _failed_attempt(attempt_no, "no usable credentials for this venue (its secret)")
    try:
        client = kit.client_factory(target.venue, target.account.for_kill(), kit.kill_timeout)
    except Exception as exc:
        return _failed_attempt(attempt_no, describe(exc))
    try:
        attempt = _sweep(kit, client, attempt_no)
        if attempt.ok:
            attempt = _confirm_empty(client, attempt)
        if attempt.ok and _clears_after_kill(client.capabilities):
            attempt.venue_timer = _clear_timer(client)
    finally:
        close_client(client)
    attempt.elapsed_ms = kit.clock() - started
    return attempt


def _finish_switch(
    kit: Toolkit, target: Target, result: KillSwitchResult, caller: Caller, reason: str, budget_ms: int
) -> None:
    latch = "latched" if result.latched else (result.error or "latch not confirmed")
    kit.audit(target, "kill", caller, reason, latch, {"budget_ms": budget_ms})
    if not result.attempts:
        return  # not swept here (no credentials): the refresher sweeps it at every tick
    last = result.attempts[-1]
    changes: dict[str, Any] = {"last_sweep_ms": kit.clock(), "last_sweep": f"kill: {_summary(last)}"}
    if last.venue_timer == "cleared":
        changes["deadline_ms"] = None
    if not last.ok:
        changes["last_error"] = f"kill sweep: {last.error}"
    kit.update(target, lambda s: dataclasses.replace(s, **changes))
    for attempt in result.attempts:
        details = {
            "attempt": attempt.attempt,
            "cancelled": attempt.cancelled_ids,
            "failed": [f.model_dump() for f in attempt.failed_orders],
            "venue_timer": attempt.venue_timer,
        }
        kit.audit(target, "kill-sweep", caller, reason, _summary(attempt), details)


def _clears_after_kill(caps: Capabilities) -> bool:
    """Venues whose native fires are rationed (Hyperliquid: 10 a day) get their timer cleared once
    the kill's sweep emptied the book: a killed switch never extends, so the timer serves nothing."""
    return caps.daily_trigger_budget is not None and caps.can_disarm


def _failed_attempt(attempt: int, why: str) -> SweepAttempt:
    return SweepAttempt(attempt=attempt, ok=False, error=why)


def _sweep(kit: Toolkit, client: VenueClient, attempt_no: int) -> SweepAttempt:
    """One sweep; a nonce the venue refused as too small (a fallback nonce behind the shared counter,
    a time-based Gemini key after a burst) is tried again further ahead, a bounded number of times."""
    for _ in range(NONCE_TRIES):
        try:
            swept: SweepResult = client.sweep()
            break
        except NonceError as exc:
            if exc.code != "lockout" and kit.widen_nonces(client):
                continue
            return SweepAttempt(attempt=attempt_no, ok=False, error=describe(exc))
        except Exception as exc:
            return SweepAttempt(attempt=attempt_no, ok=False, error=describe(exc))
    else:
        return SweepAttempt(attempt=attempt_no, ok=False, error="the venue refused every nonce tried")
    return SweepAttempt(
        attempt=attempt_no,
        ok=swept.complete,
        cancelled_count=swept.cancelled_count,
        cancelled_ids=list(swept.cancelled_ids),
        failed_orders=[OrderFailureOut(order_id=f.order_id, reason=f.reason) for f in swept.failed],
        pending=swept.pending,
        error=None if swept.complete else f"{len(swept.failed)} order(s) not cancelled",
    )


def _confirm_empty(client: VenueClient, attempt: SweepAttempt) -> SweepAttempt:
    """The venue is asked what still rests on the account (every key and session), so a cancel that
    reached one session of several - or an order a zombie placed meanwhile - is reported, never
    hidden behind "swept". A key that may not list orders (a Kraken kill key with cancel rights only)
    leaves the venue's own account-wide cancel-all answer as the word, and the answer says so."""
    try:
        left = client.open_orders()
    except Exception as exc:
        attempt.confirmed = f"not listed: {describe(exc)}"
        return attempt
    if left:
        attempt.ok = False
        ids = ", ".join(o.order_id for o in left[:5])
        attempt.error = f"{len(left)} order(s) still rest after the sweep: {ids}"
        attempt.confirmed = f"{len(left)} still resting"
    else:
        attempt.confirmed = "empty"
    return attempt


def _clear_timer(client: VenueClient) -> str:
    try:
        client.disarm()
    except NotSupportedError:
        return "unchanged (venue cannot)"
    except VolumeGateError:
        # Refused: a schedule set before the venue began refusing may still stand (and fire).
        return "not cleared (the volume gate refused it; a schedule set before may still fire)"
    except Exception as exc:
        # Not a kill failure: the book is empty and a fire would only cost a daily trigger.
        return f"not cleared: {describe(exc)}"
    return "cleared"


def _summary(attempt: SweepAttempt) -> str:
    if attempt.error and not attempt.cancelled_count and not attempt.failed_orders:
        return f"failed: {attempt.error}"
    text = f"cancelled {attempt.cancelled_count}"
    if attempt.failed_orders:
        text += f", failed {len(attempt.failed_orders)}"
    if attempt.pending:
        text += " (pending at the venue)"
    if attempt.venue_timer:
        text += f"; venue timer {attempt.venue_timer}"
    return text
