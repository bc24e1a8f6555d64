"""One tick of one venue's switches (the loop that repeats it holding the lease: `loop.py`).

Why this file is long: the order of reads and writes within a tick - read, intent, extend, record - is
the safety argument for promises 3 and 4, and it reads best top to bottom in one place.

A tick reads the liveness row once (strongly consistent; the clock is read after it), then for each
account of the venue, side by side so one slow or failing account never delays or stops another:
read the switch, `policy.decide`, act on the venue, record state, audit and metrics.

The order of writes is what keeps promise 4 (kill latches): before any extension the refresher
writes its intent conditionally on the version it read; a kill latched after the read bumps the
version, the intent write fails, and nothing is extended. The intent carries how long the extension
may be in flight (`inflight_until_ms`), so that a kill can outwait it.

What a fault in our own plumbing does (promise 3: never a reason to cancel):
- a failed venue call is tried again within the tick (a fresh read and decision each time), so a
  hiccup does not cost a whole tick of the venue's slack (Gemini: two lost ticks would be 30 s);
- a decision that aged past SEND_WITHIN_MS before its request could leave is not sent;
- an unreadable switch is judged by the last state this loop read (a kill keeps sweeping, a disarm
  still ends); with nothing remembered, the tick does nothing for it and the venue timer runs out;
- a failed lease renewal is ridden out until the lease this loop holds for sure runs out.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from deadman.core.clock import Clock
from deadman.core.concurrency import Parallel, ThreadParallel
from deadman.core.config import FleetConfig
from deadman.core.errors import ConfigError, DeadmanError
from deadman.core.liveness import Liveness, Verdict, combine
from deadman.core.metrics import MetricsSink
from deadman.core.policy import (
    SEND_WITHIN_MS,
    TRANSIT_MS,
    WHOLE_SECONDS_MS,
    Decision,
    LivenessView,
    Mode,
    decide,
    triggers_today,
    utc_date,
)
from deadman.core.venue import Capabilities, ExtendResult, NonceSource, TimerKind, VenueClient
from deadman.stores.credentials import VenueSecrets
from deadman.stores.liveness import LivenessReader, read_and_judge
from deadman.stores.switches import Switch, SwitchConflict, SwitchStore
from deadman.venues import load as load_venue
from deadman.venues.errors import (
    AuthError,
    NonceError,
    NotSupportedError,
    RejectedError,
    VenueError,
    VolumeGateError,
)

ACTOR = "refresher"
_TRANSITIONS = frozenset(
    {"auto-arm", "venue-timer-fired", "fired", "recovered", "scheduled-disarm", "scheduled-disarm-missed"}
)
_UNSCHEDULED: dict[str, Any] = {
    "scheduled_from_ms": None,
    "scheduled_until_ms": None,
    "scheduled_by": None,
    "scheduled_reason": None,
    "scheduled_off": False,
}
# How long a switch state the table confirmed is acted on while the table cannot be read (reads and
# writes failing alike): a kill keeps sweeping through a short outage, but a state this old may have
# been changed by an operator since, and is not acted on (no extension, no sweep).
MEMORY_TRUST_TICKS = 2


@dataclass
class AccountTick:
    account: str
    decision: Decision | None = None
    extended_to_ms: int | None = None
    swept: int | None = None
    error: str | None = None
    note: str = ""
    retry: bool = False  # failed in a way that trying again soon may mend
    off: bool = False  # in an off period: the trader is away on purpose


@dataclass
class TickReport:
    venue: str
    at_ms: int
    liveness: Liveness
    accounts: list[AccountTick] = field(default_factory=list)
    error: str | None = None


ClientFactory = Callable[[Any], VenueClient]


def _deadline(outcome: ExtendResult, decision: Decision) -> int:
    deadline = outcome.venue_deadline_ms or outcome.requested_deadline_ms or decision.extend_to_ms
    assert deadline is not None
    return deadline


def _landed_late(outcome: ExtendResult) -> bool:
    """The venue says its timer fires later than asked, beyond its whole-second rounding."""
    asked, got = outcome.requested_deadline_ms, outcome.venue_deadline_ms
    return asked is not None and got is not None and got > asked + WHOLE_SECONDS_MS


def _has_kill_credentials(account: Any) -> bool:
    return (
        getattr(account, "kill", None) is not None
        or getattr(account, "kill_agent_private_key", None) is not None
    )


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, SwitchConflict | ConfigError | AuthError | RejectedError | NotSupportedError):
        return False
    return not (isinstance(exc, NonceError) and exc.code == "lockout")


class Ticker:
    """One venue's accounts, ticked: judge the trader, decide per switch, act on the venue, record."""

    def __init__(
        self,
        *,
        venue: str,
        config: FleetConfig,
        switches: SwitchStore,
        liveness: LivenessReader,
        credentials: VenueSecrets,
        nonces: NonceSource,
        clock: Clock,
        metrics: MetricsSink,
        log: Callable[..., None] | None = None,
        client_factory: ClientFactory | None = None,
        sleep: Callable[[float], None] = time.sleep,
        parallel: Parallel | None = None,
    ) -> None:
        self.venue = venue
        self.config = config
        self.switches = switches
        self.liveness = liveness
        self.credentials = credentials
        self.clock = clock
        self.sleep = sleep
        self.metrics = metrics
        self.log = log or (lambda *a, **k: None)
        self.parallel: Parallel = parallel or ThreadParallel(clock=clock)
        module = load_venue(venue)
        self.caps: Capabilities = module.CAPABILITIES
        self._client_factory = client_factory or (
            lambda account: module.Client(account, nonces=nonces, clock=clock)
        )
        self._clients: dict[tuple[str, str], tuple[Any, VenueClient]] = {}
        # The last state read or written per account, with when the table confirmed it: what the
        # loop acts on, for a little while, when the table cannot be read.
        self._known: dict[str, tuple[Switch, int]] = {}
        self._said_unconfigured = False

    def _client(self, account: Any, *, kill_key: bool = False, retiring: bool = False) -> VenueClient:
        """The account's client on its trading key, its kill key, or (Gemini mid-rotation) its
        retiring key; kept while the secret is unchanged (the same Account object)."""
        slot = (account.account_id, "kill" if kill_key else "retiring" if retiring else "trade")
        cached = self._clients.get(slot)
        if cached is None or cached[0] is not account:
            signer = account.for_kill() if kill_key else account.for_retiring() if retiring else account
            cached = (account, self._client_factory(signer))
            self._clients[slot] = cached
        return cached[1]

    def tick(self, only: frozenset[str] | None = None) -> TickReport:
        verdict = self._judge(self.config.system)
        now = verdict.at_ms if verdict.at_ms is not None else self.clock()
        report = TickReport(self.venue, now, verdict)
        self.metrics.count("Ticks", venue=self.venue)
        if verdict.age_ms is not None:
            self.metrics.gauge("LivenessAgeSeconds", verdict.age_ms / 1000, venue=self.venue)
        try:
            secret = self.credentials.get(self.venue)
        except (DeadmanError, ValueError) as exc:
            # No usable secret: nothing can be extended (fail closed); the venue timers run out.
            report.error = str(exc)
            self.metrics.count("VenueErrors", venue=self.venue)
            self.log("credentials unusable", error=str(exc))
            return report
        accounts = secret.accounts
        if not accounts and not self._said_unconfigured:
            # The stack's first deploy: the secret lists no accounts yet. Nothing to protect, nothing
            # failing: said once, not alarmed every tick.
            self._said_unconfigured = True
            self.log("venue not configured: its secret lists no accounts")
        if only is not None:
            accounts = tuple(a for a in accounts if a.account_id in only)
        # Each account is gated on its own trading systems (the stack's SystemName unless the secret
        # names others): every row they need is read once, then judged per account.
        gating = {a.account_id: tuple(secret.systems.get(a.account_id, ())) for a in accounts}
        verdicts = {self.config.system: verdict}
        for system in sorted({s for names in gating.values() for s in names} - set(verdicts)):
            verdicts[system] = self._judge(system)
            now = max(now, verdicts[system].at_ms or now)
        report.at_ms = now
        jobs = [
            partial(
                self._tick_account,
                a,
                combine([(s, verdicts[s]) for s in gating[a.account_id] or (self.config.system,)]),
                now,
                ",".join(gating[a.account_id]) or None,
            )
            for a in accounts
        ]
        outcomes = self.parallel.run(jobs)
        for account, outcome in zip(accounts, outcomes, strict=True):
            report.accounts.append(outcome.value or AccountTick(account.account_id, error="not finished"))
        self._count_deaths(report, gating, verdicts)
        return report

    def _count_deaths(
        self, report: TickReport, gating: dict[str, tuple[str, ...]], verdicts: dict[str, Liveness]
    ) -> None:
        """One alarm per trading system across venues and accounts (Metrics Insights, by system),
        unless every switch it gates is in an off period: a trader away for the weekend on purpose
        is not paged about all weekend. A switch this tick could not read counts as not off."""
        off = {a.account for a in report.accounts if a.off}
        gated: dict[str, list[str]] = {}
        for account, names in gating.items():
            for system in names or (self.config.system,):
                gated.setdefault(system, []).append(account)
        for system, accounts in sorted(gated.items()):
            verdict = verdicts[system]
            if verdict.alive or verdict.verdict is Verdict.UNREADABLE:
                continue
            if not all(a in off for a in accounts):
                self.metrics.count("SystemDead", system=system)

    def _judge(self, system: str) -> Liveness:
        timing = self.config.timing
        verdict = read_and_judge(self.liveness, system, self.clock, timing.max_staleness_ms, timing.skew_ms)
        if verdict.verdict is Verdict.UNREADABLE and verdict.detail.startswith("read failed"):
            self.metrics.count("StoreErrors", venue=self.venue)
        return verdict

    def _tick_account(self, account: Any, verdict: Liveness, now: int, systems: str | None) -> AccountTick:
        result = AccountTick(account.account_id)
        try:
            self._tick_switch(account, verdict, now, result, systems)
        except SwitchConflict as exc:
            # Someone (a kill, an operator) wrote the switch mid-tick: their write stands.
            result.note = f"yielded to a concurrent write: {exc}"
        except Exception as exc:  # one account's failure never stops another's
            result.error = f"{type(exc).__name__}: {exc}"
            result.retry = result.retry or _retryable(exc)
            self.metrics.count(
                "VenueErrors" if isinstance(exc, VenueError) else "StoreErrors", venue=self.venue
            )
            self.log("tick failed", account=account.account_id, error=result.error)
        return result

    def _read_switch(self, account_id: str, result: AccountTick) -> Switch | None:
        try:
            switch = self.switches.get(self.venue, account_id)
        except Exception as exc:
            self.metrics.count("StoreErrors", venue=self.venue)
            self.log("switch unreadable", account=account_id, error=type(exc).__name__)
            known = self._known.get(account_id)
            trust_ms = MEMORY_TRUST_TICKS * self.config.timing.tick_ms
            if known is not None and self.clock() - known[1] <= trust_ms:
                result.note = f"switch unreadable ({type(exc).__name__}); acting on the last state read"
                return known[0]
            try:
                # Nothing known, or known too long ago (an arm may have come since): ask through a
                # write that cannot apply; its refusal carries the item.
                switch = self.switches.get_by_write(self.venue, account_id)
            except Exception:
                result.note = f"switch unreadable ({type(exc).__name__}); nothing recent known: no action"
                result.retry = True
                return None
        self._remember(switch)
        return switch

    def _remember(self, switch: Switch) -> None:
        """What the table just confirmed, and when: acted on while it cannot be read, but only for a
        little while (MEMORY_TRUST_TICKS): a kill remembered after an operator armed would sweep a
        live trader."""
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

    def _tick_switch(
        self, account: Any, verdict: Liveness, now: int, result: AccountTick, systems: str | None = None
    ) -> None:
        if verdict.verdict is Verdict.UNREADABLE and "read failed" in verdict.detail:
            result.retry = True  # judged on a fresh read soon, within the venue timer's slack
        switch = self._read_switch(account.account_id, result)
        if switch is None:
            return  # fail closed: no extension, no sweep; the venue's own timer stands
        live = LivenessView(
            alive=verdict.alive, beat_ms=verdict.beat_ms, unreadable=verdict.verdict is Verdict.UNREADABLE
        )
        decision = decide(
            now_ms=now, liveness=live, switch=switch.view(), caps=self.caps, timing=self.config.timing
        )
        result.decision = decision
        # Transition bookkeeping rides on the tick's next write (the intent write when extending,
        # else the final one); its audit entries follow once that state is stored.
        switch, transitions = self._bookkeeping(switch, decision, verdict, now)
        result.off = switch.is_off
        client = self._client(account)

        if decision.extend_to_ms is not None:
            switch = self._extend(client, account, switch, decision, now, result)
        if decision.sweep:
            switch = self._sweep(account, switch, decision, now, result)
        if decision.disarm_venue:
            switch = self._venue_off(client, account, switch, now, "disarmed", result)
        # The extension (if any) has returned: nothing is in flight any more, so a kill or disarm
        # reading this version need not wait for it (deadman.app.control).
        final = dataclasses.replace(switch, last_tick_ms=now, inflight_until_ms=None, systems=systems)
        try:
            switch = self._store(final)
        except SwitchConflict as exc:
            # A kill or an operator wrote meanwhile: theirs stands, but the venue timer we just set
            # is real and must be on the record (or a killed switch would never clear it), and so is
            # the tick itself (status must not show a loop gone quiet in the middle of an incident).
            self._record_after_conflict(account.account_id, exc.current, now, result.extended_to_ms)
            raise
        for action, reason, details in transitions:
            self._audit(switch, action, reason, "ok", now, details)
        if decision.dead:
            self.metrics.count("Dead", venue=self.venue)

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
        if decision.window_opens:
            changes.update(
                _UNSCHEDULED,
                mode=Mode.DISARMED,
                disarmed_until_ms=decision.window_until_ms,
                reason=switch.scheduled_reason,
                changed_by=switch.scheduled_by,
                changed_at_ms=now,
                off=switch.scheduled_off,
            )
            window = {"from_ms": switch.scheduled_from_ms, "until_ms": decision.window_until_ms}
            audit.append(("scheduled-disarm", f"planned window: {switch.scheduled_reason}", window))
        elif decision.window_missed:
            changes.update(_UNSCHEDULED)
            window = {"from_ms": switch.scheduled_from_ms, "until_ms": switch.scheduled_until_ms}
            audit.append(("scheduled-disarm-missed", "the planned window ended before a tick saw it", window))
        if decision.auto_arm:
            changes.update(mode=Mode.ARMED, disarmed_until_ms=None, changed_by=ACTOR, changed_at_ms=now)
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

    def _extend(
        self,
        client: VenueClient,
        account: Any,
        switch: Switch,
        decision: Decision,
        now: int,
        result: AccountTick,
    ) -> Switch:
        assert decision.extend_to_ms is not None
        was_off = switch.deadline_ms is None
        switch, send_by = self._intent(switch, now)
        try:
            outcome = client.extend(decision.extend_to_ms, send_by_ms=send_by)
        except VolumeGateError as exc:
            if switch.deadline_ms is not None and switch.deadline_ms > now:
                # A schedule of ours is still armed at the venue and would fire on a live trader if
                # left to lapse: keep trying every tick (and alarm), not every ten minutes.
                return self._venue_error(account, switch, exc, result, extending=True)
            self.metrics.count("VenueErrors", venue=self.venue)
            if switch.native_available:
                self._audit(switch, "native-unavailable", exc.message, "watchdog only", now, {})
            return dataclasses.replace(
                switch, native_available=False, native_reason=exc.message, native_checked_ms=now
            )
        except VenueError as exc:
            return self._venue_error(account, switch, exc, result, extending=True)
        if _landed_late(outcome):
            # A relative timeout that took its time to reach the venue (Kraken): sent again at once,
            # aimed earlier by the transit just seen, as an extension of its own - intent first, so
            # a kill latched since the first one wins and is not outrun.
            self.metrics.count("LateTimers", venue=self.venue)
            try:
                switch, send_by = self._intent(switch, self.clock())
            except SwitchConflict as exc:
                self._record_after_conflict(
                    account.account_id, exc.current, now, _deadline(outcome, decision)
                )
                raise
            try:
                outcome = client.extend(decision.extend_to_ms, send_by_ms=send_by)
            except VenueError as exc:  # the first, late timer stands: on the record below
                self.log("correction failed", account=account.account_id, error=str(exc))
        self._extend_retiring(account, decision, send_by)
        deadline = _deadline(outcome, decision)
        result.extended_to_ms = deadline
        result.note = outcome.detail
        if _landed_late(outcome):
            # Late again: the native bound is stretched until the next tick mends it. Say so.
            self.metrics.count("ExtendFailedWhileAlive", venue=self.venue)
            self.log(
                "venue timer landed late",
                account=account.account_id,
                late_ms=deadline - decision.extend_to_ms,
            )
        self.metrics.count("Extended", venue=self.venue)
        self.metrics.gauge("SecondsToDeadline", (deadline - now) / 1000, venue=self.venue)
        if not switch.native_available:
            self._audit(switch, "native-available", "venue accepted the timer again", "ok", now, {})
        if was_off:
            self._audit(switch, "venue-timer-on", decision.reason, "ok", now, {"deadline_ms": deadline})
        return dataclasses.replace(
            switch,
            deadline_ms=deadline,
            native_available=True,
            native_reason=None,
            native_checked_ms=now,
            last_error=None,
            consecutive_errors=0,
        )

    def _extend_retiring(self, account: Any, decision: Decision, send_by: int) -> None:
        """Gemini mid-rotation: the old trading key's session may still hold the trader's orders, and
        only its own heartbeats keep them. Sent under the same intent as the main one; once Gemini
        refuses the key (deleted), the secret should drop it: said in the log and a metric."""
        if getattr(account, "retiring", None) is None or decision.extend_to_ms is None:
            return
        try:
            self._client(account, retiring=True).extend(decision.extend_to_ms, send_by_ms=send_by)
        except VenueError as exc:
            self.metrics.count("RetiringKeyErrors", venue=self.venue)
            self.log("retiring key not extended", account=account.account_id, error=str(exc))

    def _intent(self, switch: Switch, decided: int) -> tuple[Switch, int]:
        """Written before an extension: how long it may be in flight. The request must leave within
        SEND_WITHIN_MS of the decision (checked by the client at the moment of sending, after the
        nonce draw) and is answered within TRANSIT_MS: that is how long a kill may have to outwait
        it. Conditional on the version read, so a kill latched since then wins here."""
        send_by = decided + SEND_WITHIN_MS
        return self._store(dataclasses.replace(switch, inflight_until_ms=send_by + TRANSIT_MS)), send_by

    def _sweep(
        self, account: Any, switch: Switch, decision: Decision, now: int, result: AccountTick
    ) -> Switch:
        heartbeat = self.caps.timer_kind is TimerKind.HEARTBEAT
        kill_key = heartbeat and getattr(account, "kill", None) is not None
        rejected = switch.sweep_rejected_ms
        # Every call on the trading key restarts Gemini's 30 s rule, which is what cancels the orders
        # Gemini refused to: pause long enough for it to run out, then sweep again.
        if (
            heartbeat
            and not kill_key
            and rejected is not None
            and now - rejected < (self.caps.fixed_timeout_ms or 0) + TRANSIT_MS
        ):
            result.note = "sweep paused: letting the venue's own timer cancel what it refused to"
            return switch
        # Gemini with a kill key sweeps on that key (cancel/all): the trading key stays silent, so its
        # 30 s rule still runs out behind the watchdog.
        client = self._client(account, kill_key=kill_key)
        try:
            swept = client.sweep()
        except VenueError as exc:
            if kill_key or not _has_kill_credentials(account):
                self._audit(switch, "sweep", decision.reason, f"failed: {exc}", now, {})
                return self._venue_error(account, switch, exc, result, extending=False)
            # The refresher's key failed (a nonce lockout after requests arrived out of order, say):
            # the account's kill credentials have a nonce stream of their own. Once, at once.
            self.log("sweep failed; sweeping with the kill credentials", account=account.account_id)
            try:
                swept = self._client(account, kill_key=True).sweep()
            except VenueError as kill_exc:
                self._audit(switch, "sweep", decision.reason, f"failed: {exc}; kill key: {kill_exc}", now, {})
                return self._venue_error(account, switch, exc, result, extending=False)
        result.swept = swept.cancelled_count
        self.metrics.count("Swept", venue=self.venue)
        summary = f"cancelled {swept.cancelled_count}, failed {len(swept.failed)}"
        if swept.failed:
            # The venue refused to cancel some orders: its own timer may take them, the watchdog
            # cannot. Counted as a venue error, so it pages if it goes on.
            self.metrics.count("VenueErrors", venue=self.venue)
            self.metrics.count("SweepIncomplete", venue=self.venue)
        if swept.cancelled_count or swept.failed or decision.fired:
            self._audit(
                switch,
                "sweep",
                decision.reason,
                summary,
                now,
                {"cancelled": list(swept.cancelled_ids), "failed": [f.order_id for f in swept.failed]},
            )
        rejected = now if heartbeat and not kill_key and swept.failed else None
        switch = dataclasses.replace(
            switch, last_sweep_ms=now, last_sweep=summary, sweep_rejected_ms=rejected
        )
        if decision.clear_after_sweep and swept.complete:
            switch = self._venue_off(
                self._client(account), account, switch, now, "cleared after watchdog sweep", result
            )
        return switch

    def _venue_off(
        self, client: VenueClient, account: Any, switch: Switch, now: int, why: str, result: AccountTick
    ) -> Switch:
        try:
            client.disarm()
        except VolumeGateError:
            return dataclasses.replace(switch, deadline_ms=None)  # nothing can be scheduled there
        except VenueError as exc:
            return self._venue_error(account, switch, exc, result, extending=False)
        self._audit(switch, "venue-timer-off", why, "ok", now, {"was_deadline_ms": switch.deadline_ms})
        return dataclasses.replace(switch, deadline_ms=None)

    def _venue_error(
        self, account: Any, switch: Switch, exc: VenueError, result: AccountTick, *, extending: bool
    ) -> Switch:
        result.error = str(exc)
        result.retry = result.retry or _retryable(exc)
        self.metrics.count("VenueErrors", venue=self.venue)
        self.metrics.count(f"VenueErrors.{exc.kind.value}", venue=self.venue)
        if extending:
            self.metrics.count("ExtendFailedWhileAlive", venue=self.venue)
        if isinstance(exc, AuthError):
            # Keys may have been rotated: refetch the secret now rather than after the cache ages out.
            try:
                self.credentials.refresh(self.venue)
            except (DeadmanError, ValueError) as refresh_exc:
                self.log("credential refresh failed", error=str(refresh_exc))
        self.log("venue error", account=account.account_id, kind=exc.kind.value, error=str(exc))
        return dataclasses.replace(
            switch, last_error=str(exc), consecutive_errors=switch.consecutive_errors + 1
        )

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
