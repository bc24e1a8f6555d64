"""Incident controls: kill, disarm, arm and status (docs/design.md section 5).

The use cases know the stores, the venue clients and the clock, all injected; they know nothing of
HTTP or API Gateway (`deadman.api` is the edge). Every call is audited per switch with the caller's
identity, source IP, reason and result.

kill     Latch every targeted switch to killed FIRST (unconditional write: the latch bumps the
         version, so any refresher that read before it can no longer record an extension), then
         sweep every target in parallel with the account's kill credentials, bounded per call by the
         client timeouts and overall by a time budget. Then wait until every refresher extension that
         was already in flight at the latch has timed out (`inflight_until_ms`), so that nothing can
         push a venue timer after the kill is acknowledged, and sweep those switches once more (plus
         any whose first sweep failed). Hyperliquid's schedule is cleared after a complete sweep
         (killed switches never extend, and each native fire costs one of 10 daily triggers).
         Idempotent: a second kill latches again and sweeps again.
disarm   Bounded by the stack parameter MaxDisarmSeconds; refused (409) on a killed switch: arm
         first. Conditional write, then venue timers off where the venue allows (Kraken timeout 0,
         Hyperliquid schedule cleared). Gemini cannot be disarmed at the venue: the fleet keeps
         heartbeating that key until the disarm ends. The refresher re-arms by itself at the end time.
arm      Back to armed from disarmed or killed (conditional write); clears `dead_since_ms` so that a
         trader still dead is detected again and swept at the next tick. The next tick extends only
         if the trader is alive.
status   DynamoDB only. It never calls a venue: any authenticated call on a Gemini trading key would
         reset that key's 30 s heartbeat timer and keep a dead trader's orders alive.

Targets: `venues` defaults to every enabled venue; `accounts` (ids, matched on every targeted venue)
defaults to every account in each venue's secret. A venue whose secret cannot be read falls back
to the switches already stored for it (they can still be latched, not swept). An unknown venue or
account is refused before any state changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

from deadman.clock import Clock, system_clock
from deadman.concurrency import Parallel, ThreadParallel
from deadman.config import FleetConfig
from deadman.control_results import (
    ArmResult,
    ArmSwitchResult,
    AuditOut,
    BoundsOut,
    DisarmResult,
    DisarmSwitchResult,
    KillResult,
    KillSwitchResult,
    LivenessOut,
    OrderFailureOut,
    StatusResult,
    SweepAttempt,
    SwitchStatus,
    TimerOutcome,
    TimingOut,
    VenueProblem,
    VenueStatus,
)
from deadman.credentials import VenueSecrets
from deadman.errors import DeadmanError
from deadman.liveness import LivenessReader, read_and_judge
from deadman.observability import MetricsSink, NoMetrics
from deadman.policy import Mode, Timing, reaction_bounds, triggers_today
from deadman.store_retry import Retrying
from deadman.switches import Switch, SwitchConflict, SwitchStore
from deadman.venues import VENUES
from deadman.venues import load as load_venue
from deadman.venues.base import Capabilities, SweepResult, VenueClient
from deadman.venues.errors import NotSupportedError, VenueError, VolumeGateError

# Kill's venue calls: shorter than the refresher's, so that two passes fit in the budget.
KILL_CLIENT_TIMEOUT: tuple[float, float] = (2.0, 4.0)
CONTROL_CLIENT_TIMEOUT: tuple[float, float] = (3.05, 5.0)
# API Gateway gives up on an integration after 29 s; answer well before, whatever the venues do.
KILL_BUDGET_MS = 24_000
# Break-glass nonces start this many units (ms, or s for a Gemini time-based key) past the clock:
# the fleet's shared counters may be a little ahead of it, and are out of reach to ask.
BREAK_GLASS_NONCE_LEAD = 2
# A planned disarm may start at most this far ahead (a maintenance announced a week ahead).
MAX_PLAN_AHEAD_MS = 7 * 86_400_000
DISARM_BUDGET_MS = 20_000
# A refresher's extension is in flight for at most the sum of its client timeouts (~8 s) after the
# intent write; never wait longer than this for one.
MAX_INFLIGHT_WAIT_MS = 10_000
INFLIGHT_MARGIN_MS = 250
# Reading the venue secrets (cached 5 min in a warm Lambda) and latching: bounded, so that a slow
# Secrets Manager or DynamoDB cannot hold the sweeps back.
RESOLVE_BUDGET_MS = 6_000
LATCH_BUDGET_MS = 5_000
# Recording and auditing the sweeps may use part of the reply margin.
FINISH_GRACE_MS = 1_500
# Don't start a second sweep pass with less time than one venue call needs.
MIN_PASS_MS = 1_000
STATUS_AUDIT_ENTRIES = 5
WRITE_ATTEMPTS = 4
_ERROR_CHARS = 400

# What an operator must know of a venue's own timer that no tick can change.
VENUE_CAVEATS = {
    "kraken": (
        "Kraken cancels every order of the account when its engine comes back from downtime with this "
        "timer armed: plan a disarm over announced maintenance (deadman disarm --venue kraken --from "
        "<start> --for <length>)."
    ),
}

T = TypeVar("T")
X = TypeVar("X")


class RequestError(DeadmanError):
    """The request cannot be carried out as asked (HTTP 400). Nothing was changed."""


class ConflictError(DeadmanError):
    """The request contradicts the switches' state (HTTP 409). Nothing was changed."""

    def __init__(self, message: str, switches: Sequence[str]) -> None:
        super().__init__(message)
        self.switches = list(switches)


ClientFactory = Callable[[str, Any, tuple[float, float]], VenueClient]


@dataclass(frozen=True)
class Caller:
    """Who asked: the IAM identity from API Gateway's request context, and where from."""

    identity: str
    source_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def details(self) -> dict[str, Any]:
        return {
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
        }


@dataclass(frozen=True)
class Target:
    venue: str
    account_id: str
    account: Any = None  # the venue module's Account; None when the venue's secret is unusable

    @property
    def name(self) -> str:
        return f"{self.venue}/{self.account_id}"


# -- the use cases ---------------------------------------------------------------------------------


class Control:
    def __init__(
        self,
        *,
        config: FleetConfig,
        switches: SwitchStore,
        liveness: LivenessReader | None = None,
        credentials: VenueSecrets | None = None,
        nonces: Any = None,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        client_factory: ClientFactory | None = None,
        metrics: MetricsSink | None = None,
        log: Callable[..., None] | None = None,
        kill_timeout: tuple[float, float] = KILL_CLIENT_TIMEOUT,
        control_timeout: tuple[float, float] = CONTROL_CLIENT_TIMEOUT,
        parallel: Parallel | None = None,
    ) -> None:
        self.config = config
        self.switches = switches
        self.liveness = liveness
        self.credentials = credentials
        self.nonces = nonces
        self.clock = clock
        self.sleep = sleep
        self.metrics: MetricsSink = metrics or NoMetrics()
        self.log = log or (lambda *a, **k: None)
        self.kill_timeout = kill_timeout
        self.control_timeout = control_timeout
        self._client_factory = client_factory or self._default_client
        self.parallel: Parallel = parallel or ThreadParallel(clock=clock)

    @classmethod
    def break_glass(cls, credentials: VenueSecrets, venues: Iterable[str], **kwargs: Any) -> Control:
        """A Control for a direct kill alone (`kill(direct=True)`), on an operator's machine with AWS
        out of reach: venue calls only, nonces from the clock (the fleet's shared counters are in AWS)."""
        from deadman.nonces import MemoryNonceSource

        config = FleetConfig(
            timing=Timing(),
            system="-",
            liveness_table="-",
            control_table="-",
            enabled_venues=frozenset(venues),
        )
        return cls(
            config=config,
            switches=cast(SwitchStore, _NothingStored()),
            credentials=credentials,
            nonces=MemoryNonceSource(lead=BREAK_GLASS_NONCE_LEAD),
            **kwargs,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **kwargs: Any) -> Control:
        """The composition root of the three API functions. Nothing here calls AWS yet."""
        from deadman.credentials import CredentialStore
        from deadman.liveness import dynamodb_client
        from deadman.nonces import DynamoNonceSource

        config = FleetConfig.from_env(environ)
        client = dynamodb_client()
        patience = Retrying(kwargs.get("clock", system_clock), kwargs.get("sleep", time.sleep))
        return cls(
            config=config,
            switches=SwitchStore(config.control_table, client=client, patience=patience),
            liveness=LivenessReader(config.liveness_table, client=client, patience=patience),
            credentials=CredentialStore.from_env(environ),
            nonces=DynamoNonceSource(config.control_table, client=client, patience=patience),
            **kwargs,
        )

    def _default_client(self, venue: str, account: Any, timeout: tuple[float, float]) -> VenueClient:
        if self.nonces is None:
            raise DeadmanError("no nonce source configured: venue calls are impossible")
        module = load_venue(venue)
        client: VenueClient = module.Client(account, nonces=self.nonces, clock=self.clock, timeout=timeout)
        return client

    # -- kill ----------------------------------------------------------------------------------
    def kill(
        self,
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
        started = self.clock()
        deadline = started + budget_ms
        targets, problems = self._resolve(venues, accounts)
        self.metrics.count("KillRequests")
        results = {
            t.name: KillSwitchResult(venue=t.venue, account=t.account_id, latched=False) for t in targets
        }
        # 1. Latch every target before touching any venue: the latch is what stops extensions.
        open_windows = {} if direct else self._latch_all(targets, results, caller, reason, budget_ms)
        # 2. Sweep every target in parallel; 3. outwait in-flight extensions and sweep again.
        sweepable = [t for t in targets if t.account is not None]
        for target in targets:
            if target.account is None:
                results[target.name].notes.append(
                    f"not swept: {problems.get(target.venue, 'no credentials')}; the refresher sweeps it "
                    "at every tick once its credentials are readable"
                )
        self._sweep_passes(sweepable, open_windows, results, started, deadline)
        # 4. Record and audit what the sweeps did (bookkeeping: it may overrun the budget a little).
        if not direct:
            self._run_parallel(
                sweepable,
                lambda t: self._finish_switch(t, results[t.name], caller, reason),
                max(deadline, self.clock()) + FINISH_GRACE_MS,
            )
        return self._kill_verdict(
            targets, sweepable, results, problems, started, caller, reason, direct=direct
        )

    def _kill_verdict(
        self,
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
            self.metrics.count("KillIncomplete")
            message += f"; NOT done: {', '.join(failed) or ', '.join(problems)}."
            if not direct:
                message += " Killed switches are swept again at every refresher tick; check `deadman status`."
        return KillResult(
            ok=ok,
            at_ms=started,
            elapsed_ms=self.clock() - started,
            actor=caller.identity,
            reason=reason,
            switches=ordered,
            venue_problems=[VenueProblem(venue=v, error=e) for v, e in problems.items()],
            failed=failed,
            message=message,
        )

    def _latch_all(
        self,
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
                switch = self.switches.latch_kill(
                    target.venue, target.account_id, actor=caller.identity, reason=reason, now_ms=self.clock()
                )
            except Exception as exc:
                # Keep going: the sweep still empties the book, and the answer says 207.
                result.error = f"latch failed: {_describe(exc)}"
                self.log("kill latch failed", switch=target.name, error=result.error)
                self._audit(target, "kill", caller, reason, result.error, {"budget_ms": budget_ms})
                return None
            result.latched = True
            latched_at = self.clock()
            self._audit(target, "kill", caller, reason, "latched", {"budget_ms": budget_ms})
            window = switch.inflight_until_ms
            return window if window is not None and window > latched_at else None

        # In parallel and bounded: a slow DynamoDB must not hold the sweeps back for long.
        deadline = self.clock() + min(LATCH_BUDGET_MS, budget_ms // 3)
        windows = self._run_parallel(targets, latch, deadline)
        for target in targets:
            if target.name not in windows and results[target.name].error is None:
                results[target.name].error = "latch not confirmed within its time budget (DynamoDB slow?)"
        return {name: end for name, end in windows.items() if end is not None}

    def _sweep_passes(
        self,
        sweepable: list[Target],
        open_windows: dict[str, int],
        results: dict[str, KillSwitchResult],
        started: int,
        deadline: int,
    ) -> None:
        late = "no answer within the kill's time budget (the call may still land)"
        first = self._run_parallel(sweepable, lambda t: self._kill_sweep(t, 1), deadline)
        for target in sweepable:
            results[target.name].attempts.append(first.get(target.name) or _failed_attempt(1, late))
        if open_windows:
            # Nothing may push a venue timer after this reply: wait until every extension that was
            # in flight at the latch has timed out (bounded: ~8 s after its tick started).
            cap = min(deadline - MIN_PASS_MS, started + MAX_INFLIGHT_WAIT_MS + INFLIGHT_MARGIN_MS)
            self._sleep_until(min(max(open_windows.values()) + INFLIGHT_MARGIN_MS, cap))
        # Once more where an extension was in flight (a zombie's order may have rested meanwhile) or
        # where the first sweep failed (and is not still running).
        retry = [t for t in sweepable if t.name in open_windows or (t.name in first and not first[t.name].ok)]
        if not retry:
            return
        if deadline - self.clock() < MIN_PASS_MS:
            for target in retry:
                results[target.name].notes.append("no time left in the kill's budget for a second sweep")
            return
        second = self._run_parallel(retry, lambda t: self._kill_sweep(t, 2), deadline)
        for target in retry:
            results[target.name].attempts.append(second.get(target.name) or _failed_attempt(2, late))
            if target.name in open_windows:
                results[target.name].notes.append(
                    "a refresher extension was in flight at the latch: waited for it to time out, swept again"
                )

    def _kill_sweep(self, target: Target, attempt_no: int) -> SweepAttempt:
        started = self.clock()
        try:
            client = self._client_factory(target.venue, target.account.for_kill(), self.kill_timeout)
        except Exception as exc:
            return _failed_attempt(attempt_no, _describe(exc))
        try:
            attempt = _sweep(client, attempt_no)
            if attempt.ok and _clears_after_kill(client.capabilities):
                attempt.venue_timer = _clear_timer(client)
        finally:
            _close(client)
        attempt.elapsed_ms = self.clock() - started
        return attempt

    def _finish_switch(self, target: Target, result: KillSwitchResult, caller: Caller, reason: str) -> None:
        last = result.attempts[-1]
        changes: dict[str, Any] = {"last_sweep_ms": self.clock(), "last_sweep": f"kill: {_summary(last)}"}
        if last.venue_timer == "cleared":
            changes["deadline_ms"] = None
        if not last.ok:
            changes["last_error"] = f"kill sweep: {last.error}"
        self._update(target, lambda s: dataclasses.replace(s, **changes))
        for attempt in result.attempts:
            details = {
                "attempt": attempt.attempt,
                "cancelled": attempt.cancelled_ids,
                "failed": [f.model_dump() for f in attempt.failed_orders],
                "venue_timer": attempt.venue_timer,
            }
            self._audit(target, "kill-sweep", caller, reason, _summary(attempt), details)

    # -- disarm --------------------------------------------------------------------------------
    def disarm(
        self,
        *,
        reason: str,
        for_seconds: int,
        venues: Sequence[str] | None,
        accounts: Sequence[str] | None,
        caller: Caller,
        budget_ms: int = DISARM_BUDGET_MS,
        starts_at_ms: int | None = None,
    ) -> DisarmResult:
        if for_seconds < 1 or for_seconds * 1000 > self.config.max_disarm_ms:
            raise RequestError(
                f"for_seconds must be between 1 and {self.config.max_disarm_ms // 1000} (this "
                f"stack parameter MaxDisarmSeconds); got {for_seconds}"
            )
        started = self.clock()
        # A start in the past, or none, is now; a start ahead is a plan.
        plan_start = starts_at_ms if starts_at_ms is not None and starts_at_ms > started else None
        if plan_start is not None and plan_start - started > MAX_PLAN_AHEAD_MS:
            raise RequestError(
                f"starts_at_ms is more than {MAX_PLAN_AHEAD_MS // 86_400_000} days ahead; plan it later"
            )
        targets, problems = self._resolve(venues, accounts)
        until = started + for_seconds * 1000
        current = {t.name: self.switches.get(t.venue, t.account_id) for t in targets}
        killed = [t for t in targets if current[t.name].mode is Mode.KILLED]
        if killed:
            for target in killed:
                self._audit(target, "disarm", caller, reason, "refused: switch is killed", {})
            names = [t.name for t in killed]
            raise ConflictError(
                f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} killed: a killed switch is never "
                "disarmed. Arm it first (POST /arm), then disarm. Nothing was changed.",
                names,
            )
        self.metrics.count("DisarmRequests")
        if plan_start is not None:
            return self._plan_disarm(
                targets, problems, current, reason=reason, for_seconds=for_seconds, caller=caller,
                starts_at_ms=plan_start,
            )  # fmt: skip

        def disarmed(s: Switch) -> Switch:
            return dataclasses.replace(
                s,
                mode=Mode.DISARMED,
                disarmed_until_ms=until,
                reason=reason,
                changed_by=caller.identity,
                changed_at_ms=started,
            )

        results: dict[str, DisarmSwitchResult] = {}
        windows: list[int] = []
        for target in targets:
            result = results[target.name] = _not_disarmed(target, current[target.name])
            written = self._write_mode(target, current[target.name], disarmed, refuse_killed=True)
            if isinstance(written, str):
                result.error = written
                continue
            before, after = written
            result.disarmed, result.mode, result.disarmed_until_ms = True, after.mode.value, until
            if before.inflight_until_ms is not None and before.inflight_until_ms > started:
                windows.append(before.inflight_until_ms)
        if windows:
            # An extension in flight before our write may still land: outwait it, or it would switch
            # the venue timer back on right after we switched it off.
            cap = min(started + budget_ms - MIN_PASS_MS, started + MAX_INFLIGHT_WAIT_MS)
            self._sleep_until(min(max(windows) + INFLIGHT_MARGIN_MS, cap))
        self._venues_off(
            [t for t in targets if results[t.name].disarmed], results, problems, started + budget_ms
        )
        for target in targets:
            result = results[target.name]
            outcome = (
                "disarmed" if result.disarmed else "not disarmed"
            ) + f"; venue timer {result.venue_timer}"
            self._audit(
                target,
                "disarm",
                caller,
                reason,
                outcome + (f": {result.error}" if result.error else ""),
                {"until_ms": until, "for_seconds": for_seconds},
            )
        return self._disarm_result(targets, results, problems, caller, reason, started, until, for_seconds)

    def _plan_disarm(
        self,
        targets: list[Target],
        problems: dict[str, str],
        current: dict[str, Switch],
        *,
        reason: str,
        for_seconds: int,
        caller: Caller,
        starts_at_ms: int,
    ) -> DisarmResult:
        """A disarm that starts later (Kraken's announced maintenance, say): recorded on each switch
        now, applied by the refresher's first tick at or after `starts_at_ms` (venue timers switched
        off then, re-armed by itself at the end like any disarm). Nothing changes at the venues now."""
        now = self.clock()
        until = starts_at_ms + for_seconds * 1000

        def planned(s: Switch) -> Switch:
            return dataclasses.replace(
                s,
                scheduled_from_ms=starts_at_ms,
                scheduled_until_ms=until,
                scheduled_by=caller.identity,
                scheduled_reason=reason,
            )

        results: dict[str, DisarmSwitchResult] = {}
        for target in targets:
            result = results[target.name] = _not_disarmed(target, current[target.name])
            written = self._write_mode(target, current[target.name], planned, refuse_killed=True)
            if isinstance(written, str):
                result.error = written.replace("not disarmed", "not planned")
            else:
                result.scheduled, result.disarmed_until_ms = True, until
            self._audit(
                target,
                "disarm",
                caller,
                reason,
                f"planned: {_iso(starts_at_ms)} to {_iso(until)}"
                if result.scheduled
                else f"not planned: {result.error}",
                {"from_ms": starts_at_ms, "until_ms": until, "for_seconds": for_seconds},
            )
        ordered = [results[t.name] for t in targets]
        bad = [f"{r.venue}/{r.account}" for r in ordered if not r.scheduled]
        ok = not bad and not problems
        message = (
            f"planned a disarm of {sum(r.scheduled for r in ordered)}/{len(ordered)} switch(es) from "
            f"{_iso(starts_at_ms)} until {_iso(until)}"
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
            switches=ordered,
            venue_problems=[VenueProblem(venue=v, error=e) for v, e in problems.items()],
            notes=[
                "the refresher's first tick at or after the start disarms each switch and switches its "
                "venue timer off (Gemini: keeps heartbeating); `deadman arm` before then cancels the plan"
            ],
            message=message,
        )

    def _venues_off(
        self,
        targets: list[Target],
        results: dict[str, DisarmSwitchResult],
        problems: dict[str, str],
        deadline: int,
    ) -> None:
        for target in targets:
            if target.account is None:
                results[target.name].venue_timer = "failed"
                results[target.name].error = f"venue timer not switched off: {problems.get(target.venue)}"
        with_creds = [t for t in targets if t.account is not None]
        offs = self._run_parallel(with_creds, self._venue_off, deadline)
        for target in with_creds:
            result = results[target.name]
            late: tuple[TimerOutcome, str | None, str | None] = ("failed", "no answer in time", None)
            timer, error, note = offs.get(target.name) or late
            result.venue_timer, result.error = timer, error
            if note:
                result.notes.append(note)
            if timer in ("off", "none"):
                self._update(
                    target,
                    lambda s: dataclasses.replace(s, deadline_ms=None) if s.mode is Mode.DISARMED else s,
                )

    def _venue_off(self, target: Target) -> tuple[TimerOutcome, str | None, str | None]:
        try:
            client = self._client_factory(target.venue, target.account, self.control_timeout)
        except Exception as exc:
            return "failed", _describe(exc), None
        try:
            client.disarm()
        except NotSupportedError:
            return "not_supported", None, "the venue cannot be disarmed: the fleet keeps heartbeating"
        except VolumeGateError:
            return "none", None, "no venue timer: the volume gate keeps this account on the watchdog alone"
        except Exception as exc:
            return "failed", _describe(exc), None
        finally:
            _close(client)
        return "off", None, None

    def _disarm_result(
        self,
        targets: list[Target],
        results: dict[str, DisarmSwitchResult],
        problems: dict[str, str],
        caller: Caller,
        reason: str,
        started: int,
        until: int,
        for_seconds: int,
    ) -> DisarmResult:
        notes: list[str] = []
        if any(t.venue == "gemini" and results[t.name].disarmed for t in targets):
            notes.append(
                "Gemini cannot be disarmed at the venue: the heartbeat timer is a property of the API key. "
                "The fleet keeps heartbeating the Gemini keys regardless of liveness until the disarm ends "
                f"({_iso(until)}); after that Gemini cancels a dead trader's orders 30 s after the last "
                "heartbeat."
            )
        notes.append(
            f"the switches re-arm by themselves at {_iso(until)}; the next tick then extends only if the "
            "trader is alive"
        )
        ordered = [results[t.name] for t in targets]
        bad = [f"{r.venue}/{r.account}" for r in ordered if not r.disarmed or r.venue_timer == "failed"]
        ok = not bad and not problems
        message = f"disarmed {sum(r.disarmed for r in ordered)}/{len(ordered)} switch(es) until {_iso(until)}"
        if not ok:
            message += (
                f"; incomplete: {', '.join(bad + list(problems))} (a disarmed switch whose venue timer is "
                "still on is switched off by the refresher at its next tick)"
            )
        return DisarmResult(
            ok=ok,
            at_ms=started,
            until_ms=until,
            for_seconds=for_seconds,
            actor=caller.identity,
            reason=reason,
            switches=ordered,
            venue_problems=[VenueProblem(venue=v, error=e) for v, e in problems.items()],
            notes=notes,
            message=message,
        )

    # -- arm -----------------------------------------------------------------------------------
    def arm(
        self,
        *,
        reason: str,
        venues: Sequence[str] | None,
        accounts: Sequence[str] | None,
        caller: Caller,
    ) -> ArmResult:
        targets, problems = self._resolve(venues, accounts)
        now = self.clock()
        self.metrics.count("ArmRequests")
        results = []
        for target in targets:
            current = self.switches.get(target.venue, target.account_id)
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
                self._audit(target, "arm", caller, reason, "already armed", {})
                continue
            if (
                self.config.arm_needs_second_person
                and current.mode is Mode.KILLED
                and current.changed_by == caller.identity
            ):
                result.error = (
                    "two-person rule: you killed this switch; someone else must arm it "
                    "(ArmAfterKillNeedsSecondPerson)"
                )
                self._audit(target, "arm", caller, reason, f"refused: {result.error}", {})
                continue
            written = self._write_mode(
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
                ),
                refuse_killed=False,
            )
            if isinstance(written, str):
                result.error = written
            else:
                before, after = written
                result.previous_mode, result.mode, result.changed = before.mode.value, after.mode.value, True
            self._audit(
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

    # -- status --------------------------------------------------------------------------------
    def status(self) -> StatusResult:
        """DynamoDB only: never a venue call (see the module docstring)."""
        now = self.clock()
        timing = self.config.timing
        if self.liveness is None:
            raise DeadmanError("no liveness reader configured")
        liveness = self.liveness

        def judged(system: str) -> LivenessOut:
            v = read_and_judge(liveness, system, self.clock, timing.max_staleness_ms, timing.skew_ms)
            return LivenessOut(
                system=system,
                verdict=v.verdict.value,
                alive=v.alive,
                beat_ms=v.beat_ms,
                age_s=None if v.age_ms is None else v.age_ms / 1000,
                detail=v.detail,
            )

        own = judged(self.config.system)
        gating: set[str] = set()
        venues = []
        for venue in VENUES:
            if venue not in self.config.enabled_venues:
                continue
            caps: Capabilities = load_venue(venue).CAPABILITIES
            bounds = reaction_bounds(timing, caps)
            stored = sorted(self.switches.list_venue(venue), key=lambda s: s.account)
            gating |= {name for s in stored for name in (s.systems or self.config.system).split(",")}
            venues.append(
                VenueStatus(
                    venue=venue,
                    timer_kind=caps.timer_kind.value,
                    can_disarm=caps.can_disarm,
                    reaction_bounds=BoundsOut(
                        watchdog_s=bounds.watchdog_ms / 1000, native_s=bounds.native_ms / 1000
                    ),
                    switches=[self._switch_status(s, caps, now) for s in stored],
                    note=" ".join(
                        n
                        for n in (
                            None
                            if stored
                            else "no switch recorded yet: the venue's secret lists no accounts (not "
                            "configured), or no refresher tick or control call so far.",
                            VENUE_CAVEATS.get(venue),
                        )
                        if n
                    )
                    or None,
                )
            )
        gating = gating or {self.config.system}
        systems = [own if name == self.config.system else judged(name) for name in sorted(gating)]
        return StatusResult(
            at_ms=now,
            liveness=own,
            systems=systems,
            timing=TimingOut(
                max_staleness_s=timing.max_staleness_ms / 1000,
                tick_s=timing.tick_ms / 1000,
                grace_s=timing.grace_ms / 1000,
                skew_s=timing.skew_ms / 1000,
                sweep_window_s=timing.sweep_window_ms / 1000,
                max_disarm_s=self.config.max_disarm_ms / 1000,
            ),
            venues=venues,
        )

    def _switch_status(self, s: Switch, caps: Capabilities, now: int) -> SwitchStatus:
        def left(at: int | None) -> float | None:
            return None if at is None else (at - now) / 1000

        if s.mode is Mode.KILLED:
            detail = "killed until an operator arms it: swept every tick, never extended"
        elif s.mode is Mode.DISARMED and s.disarmed_until_ms is not None and s.disarmed_until_ms > now:
            detail = f"disarmed until {_iso(s.disarmed_until_ms)}; re-arms by itself then"
        elif s.mode is Mode.DISARMED:
            detail = "disarm ended: re-arms at the next tick"
        elif s.dead_since_ms is not None:
            detail = "armed; trader judged dead: watchdog sweeping"
        else:
            detail = "armed"
        if s.scheduled_from_ms is not None and s.scheduled_until_ms is not None:
            detail += (
                f"; planned disarm {_iso(s.scheduled_from_ms)} to {_iso(s.scheduled_until_ms)} "
                f"({s.scheduled_reason})"
            )
        budget = caps.daily_trigger_budget
        audit = [
            AuditOut(
                at_ms=int(a.get("at_ms", 0)),
                action=str(a.get("action", "")),
                actor=str(a.get("actor", "")),
                reason=str(a.get("reason", "")),
                result=str(a.get("result", "")),
                details=dict(a.get("details") or {}),
            )
            for a in self.switches.recent_audit(s.venue, s.account, STATUS_AUDIT_ENTRIES)
        ]
        return SwitchStatus(
            venue=s.venue,
            account=s.account,
            mode=s.mode.value,
            mode_detail=detail,
            version=s.version,
            disarmed_until_ms=s.disarmed_until_ms,
            disarm_seconds_left=left(s.disarmed_until_ms) if s.mode is Mode.DISARMED else None,
            reason=s.reason,
            changed_by=s.changed_by,
            changed_at_ms=s.changed_at_ms,
            last_tick_ms=s.last_tick_ms,
            last_tick_age_s=None if s.last_tick_ms is None else (now - s.last_tick_ms) / 1000,
            deadline_ms=s.deadline_ms,
            deadline_seconds_left=left(s.deadline_ms),
            last_beat_ms=s.last_beat_ms,
            dead_since_ms=s.dead_since_ms,
            native_available=s.native_available,
            native_reason=s.native_reason,
            triggers_today=triggers_today(s.view(), now) if budget is not None else None,
            trigger_budget=budget,
            last_error=s.last_error,
            consecutive_errors=s.consecutive_errors,
            last_sweep_ms=s.last_sweep_ms,
            last_sweep=s.last_sweep,
            scheduled_disarm_from_ms=s.scheduled_from_ms,
            scheduled_disarm_until_ms=s.scheduled_until_ms,
            systems=s.systems.split(",") if s.systems else [],
            recent_audit=audit,
        )

    # -- shared --------------------------------------------------------------------------------
    def _resolve(
        self, venues: Sequence[str] | None, accounts: Sequence[str] | None
    ) -> tuple[list[Target], dict[str, str]]:
        """The switches a request targets, or RequestError before anything changed."""
        enabled = [v for v in VENUES if v in self.config.enabled_venues]
        if venues is None:
            chosen = enabled
        else:
            unknown = [v for v in venues if v not in VENUES]
            if unknown:
                raise RequestError(f"unknown venue(s) {_names(unknown)}; known: {', '.join(VENUES)}")
            off = [v for v in venues if v not in enabled]
            if off:
                raise RequestError(
                    f"venue(s) {_names(off)} not enabled in this deployment; "
                    f"enabled: {', '.join(enabled) or '-'}"
                )
            chosen = [v for v in VENUES if v in venues]
        if not chosen:
            raise RequestError("no venue is enabled in this deployment")
        per_venue, problems = self._accounts_of(chosen)
        if accounts is not None:
            known = {t.account_id for ts in per_venue.values() for t in ts}
            unknown = [a for a in accounts if a not in known]
            if unknown:
                listing = "; ".join(
                    f"{v}: {', '.join(t.account_id for t in ts) or '-'}" for v, ts in per_venue.items()
                )
                hint = (
                    f" (unreadable: {'; '.join(f'{v}: {p}' for v, p in problems.items())})"
                    if problems
                    else ""
                )
                raise RequestError(f"unknown account(s) {_names(unknown)}; known: {listing}{hint}")
            # An unreadable venue stays in `problems`: it may hold the named accounts too.
            per_venue = {v: [t for t in ts if t.account_id in accounts] for v, ts in per_venue.items()}
        targets = [t for ts in per_venue.values() for t in ts]
        if not targets and not problems:
            raise RequestError("the request targets no switch")
        return targets, problems

    def _accounts_of(self, venues: list[str]) -> tuple[dict[str, list[Target]], dict[str, str]]:
        """Each venue's accounts from its secret, fetched in parallel and bounded: a venue whose
        secret is unusable or slow falls back to its stored switches (latchable, not sweepable)."""

        def fetch(venue: str) -> list[Target]:
            if self.credentials is None:
                raise DeadmanError("no credential store configured")
            secret = self.credentials.get(venue)
            return [Target(venue, str(a.account_id), a) for a in secret.accounts]

        errors: dict[str, str] = {}

        def fetch_or_note(venue: str) -> list[Target] | None:
            try:
                return fetch(venue)
            except Exception as exc:
                errors[venue] = _describe(exc)
                return None

        fetched = self._run_parallel(venues, fetch_or_note, self.clock() + RESOLVE_BUDGET_MS, key=str)
        per_venue: dict[str, list[Target]] = {}
        problems: dict[str, str] = {}
        for venue in venues:
            found = fetched.get(venue)
            if found is not None:
                per_venue[venue] = found
                continue
            why = errors.get(venue, f"secret not read within {RESOLVE_BUDGET_MS // 1000} s")
            problems[venue] = f"credentials unusable: {why}"
            per_venue[venue] = [Target(venue, s.account, None) for s in self.switches.list_venue(venue)]
        return per_venue, problems

    def _write_mode(
        self,
        target: Target,
        current: Switch,
        change: Callable[[Switch], Switch],
        *,
        refuse_killed: bool,
    ) -> tuple[Switch, Switch] | str:
        """Conditional write of `change(current)`, re-reading on conflict. (before, after) or why not."""
        switch = current
        for _ in range(WRITE_ATTEMPTS):
            if refuse_killed and switch.mode is Mode.KILLED:
                return "killed meanwhile: not disarmed (arm first)"
            try:
                return switch, self.switches.put(change(switch))
            except SwitchConflict:
                switch = self.switches.get(target.venue, target.account_id)
        return f"switch kept changing under {WRITE_ATTEMPTS} attempts; not written"

    def _update(self, target: Target, change: Callable[[Switch], Switch]) -> None:
        """Bookkeeping write (last sweep, deadline): best effort, never un-kills (it re-reads)."""
        for _ in range(WRITE_ATTEMPTS):
            switch = self.switches.get(target.venue, target.account_id)
            new = change(switch)
            if new == switch:
                return
            try:
                self.switches.put(new)
                return
            except SwitchConflict:
                continue
            except Exception as exc:
                self.log("switch bookkeeping failed", switch=target.name, error=_describe(exc))
                return

    def _audit(
        self, target: Target, action: str, caller: Caller, reason: str, result: str, details: dict[str, Any]
    ) -> None:
        try:
            self.switches.audit(
                target.venue,
                target.account_id,
                action=action,
                actor=caller.identity,
                reason=reason,
                result=result,
                now_ms=self.clock(),
                details={**caller.details(), **details},
            )
        except Exception as exc:  # the audit must never stop a kill; the log keeps the record
            self.log(
                "audit write failed",
                switch=target.name,
                action=action,
                actor=caller.identity,
                result=result,
                error=_describe(exc),
            )

    def _run_parallel(
        self,
        items: Iterable[X],
        work: Callable[[X], T],
        deadline_ms: int,
        key: Callable[[X], str] = lambda t: t.name,  # type: ignore[attr-defined]
    ) -> dict[str, T]:
        """Run `work` per item side by side; what has not finished by the deadline is absent."""
        todo = list(items)
        outcomes = self.parallel.run([partial(work, item) for item in todo], deadline_ms)
        out: dict[str, T] = {}
        for item, outcome in zip(todo, outcomes, strict=True):
            if outcome.error is not None:  # the work functions catch venue errors; this is a bug
                self.log("control worker failed", item=key(item), error=_describe(outcome.error))
            elif outcome.done:
                out[key(item)] = outcome.value  # type: ignore[assignment]
        return out

    def _sleep_until(self, at_ms: int) -> None:
        delay = at_ms - self.clock()
        if delay > 0:
            self.sleep(delay / 1000)


# -- helpers ---------------------------------------------------------------------------------------


def _clears_after_kill(caps: Capabilities) -> bool:
    """Venues whose native fires are rationed (Hyperliquid: 10 a day) get their timer cleared once
    the kill's sweep emptied the book: a killed switch never extends, so the timer serves nothing."""
    return caps.daily_trigger_budget is not None and caps.can_disarm


def _not_disarmed(target: Target, current: Switch) -> DisarmSwitchResult:
    """A switch's line in a disarm's answer before anything was written."""
    return DisarmSwitchResult(
        venue=target.venue,
        account=target.account_id,
        mode=current.mode.value,
        disarmed=False,
        disarmed_until_ms=None,
        venue_timer="not_attempted",
    )


class _NothingStored:
    """The ControlTable as break-glass sees it: out of reach, so no switch is known beyond the
    credentials given (a venue whose credentials fail is reported, not guessed at)."""

    def list_venue(self, venue: str) -> list[Switch]:
        return []


def _failed_attempt(attempt: int, why: str) -> SweepAttempt:
    return SweepAttempt(attempt=attempt, ok=False, error=why)


def _sweep(client: VenueClient, attempt_no: int) -> SweepAttempt:
    try:
        swept: SweepResult = client.sweep()
    except Exception as exc:
        return SweepAttempt(attempt=attempt_no, ok=False, error=_describe(exc))
    return SweepAttempt(
        attempt=attempt_no,
        ok=swept.complete,
        cancelled_count=swept.cancelled_count,
        cancelled_ids=list(swept.cancelled_ids),
        failed_orders=[OrderFailureOut(order_id=f.order_id, reason=f.reason) for f in swept.failed],
        pending=swept.pending,
        error=None if swept.complete else f"{len(swept.failed)} order(s) not cancelled",
    )


def _clear_timer(client: VenueClient) -> str:
    try:
        client.disarm()
    except NotSupportedError:
        return "unchanged (venue cannot)"
    except VolumeGateError:
        return "none (volume gate: no schedule can be set on this account)"
    except Exception as exc:
        # Not a kill failure: the book is empty and a fire would only cost a daily trigger.
        return f"not cleared: {_describe(exc)}"
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


def _describe(exc: BaseException) -> str:
    # Venue and deadman errors are written to be shown; anything else shows its class only, as a
    # library message might quote a request (and its headers).
    text = str(exc) if isinstance(exc, VenueError | DeadmanError) else type(exc).__name__
    return text[:_ERROR_CHARS]


def _close(client: Any) -> None:
    close = getattr(client, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):  # closing a pooled session is best effort
            close()


def _names(items: Iterable[str]) -> str:
    return ", ".join(repr(i) for i in items)


def _iso(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
