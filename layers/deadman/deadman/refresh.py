"""One tick of one venue's switches, and the tick loop an invocation becomes.

A tick reads the liveness row once (strongly consistent), then for each account of the venue,
in parallel so one slow or failing account never delays or stops another: read the switch,
`policy.decide`, act on the venue, record state, audit and metrics.

The order of writes is what keeps promise 4 (kill latches): before any extension the refresher
writes its intent conditionally on the version it read; a kill latched after the read bumps the
version, the intent write fails, and nothing is extended.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from deadman.clock import Clock
from deadman.config import FleetConfig
from deadman.credentials import VenueSecrets
from deadman.errors import ConfigError, DeadmanError
from deadman.lease import Lease, Renewal, Role
from deadman.liveness import Liveness, LivenessReader, Verdict, read_and_judge
from deadman.nonces import NonceSource
from deadman.observability import MetricsSink
from deadman.policy import Decision, LivenessView, Mode, decide, triggers_today, utc_date
from deadman.switches import Switch, SwitchConflict, SwitchStore
from deadman.venues import load as load_venue
from deadman.venues.base import Capabilities, TimerKind, VenueClient
from deadman.venues.errors import AuthError, VenueError, VolumeGateError
from deadman.venues.http import DEFAULT_TIMEOUT

ACTOR = "refresher"


@dataclass
class AccountTick:
    account: str
    decision: Decision | None = None
    extended_to_ms: int | None = None
    swept: int | None = None
    error: str | None = None
    note: str = ""


@dataclass
class TickReport:
    venue: str
    at_ms: int
    liveness: Liveness
    accounts: list[AccountTick] = field(default_factory=list)
    error: str | None = None


ClientFactory = Callable[[Any], VenueClient]


class Refresher:
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
    ) -> None:
        self.venue = venue
        self.config = config
        self.switches = switches
        self.liveness = liveness
        self.credentials = credentials
        self.clock = clock
        self.metrics = metrics
        self.log = log or (lambda *a, **k: None)
        module = load_venue(venue)
        self.caps: Capabilities = module.CAPABILITIES
        self._client_factory = client_factory or (
            lambda account: module.Client(account, nonces=nonces, clock=clock)
        )
        self._clients: dict[str, tuple[Any, VenueClient]] = {}

    def _client(self, account: Any) -> VenueClient:
        cached = self._clients.get(account.account_id)
        if cached is None or cached[0] is not account:
            cached = (account, self._client_factory(account))
            self._clients[account.account_id] = cached
        return cached[1]

    # -- one tick -----------------------------------------------------------------------------
    def tick(self) -> TickReport:
        now = self.clock()
        timing = self.config.timing
        verdict = read_and_judge(
            self.liveness,
            self.config.system,
            now_ms=now,
            max_staleness_ms=timing.max_staleness_ms,
            skew_ms=timing.skew_ms,
        )
        report = TickReport(self.venue, now, verdict)
        self.metrics.count("Ticks", venue=self.venue)
        if verdict.age_ms is not None:
            self.metrics.gauge("LivenessAgeSeconds", verdict.age_ms / 1000, venue=self.venue)
        try:
            accounts = self.credentials.get(self.venue).accounts
        except (DeadmanError, ValueError) as exc:
            # No usable secret: nothing can be extended (fail closed); the venue timers run out.
            report.error = str(exc)
            self.metrics.count("VenueErrors", venue=self.venue)
            self.log("credentials unusable", error=str(exc))
            return report
        if len(accounts) == 1:
            report.accounts.append(self._tick_account(accounts[0], verdict, now))
        else:
            with ThreadPoolExecutor(max_workers=min(8, len(accounts))) as pool:
                report.accounts.extend(pool.map(lambda a: self._tick_account(a, verdict, now), accounts))
        return report

    def _tick_account(self, account: Any, verdict: Liveness, now: int) -> AccountTick:
        result = AccountTick(account.account_id)
        try:
            self._tick_switch(account, verdict, now, result)
        except SwitchConflict as exc:
            # Someone (a kill, an operator) wrote the switch mid-tick: their write stands.
            result.note = f"yielded to a concurrent write: {exc}"
        except Exception as exc:  # one account's failure never stops another's
            result.error = f"{type(exc).__name__}: {exc}"
            self.metrics.count("VenueErrors", venue=self.venue)
            self.log("tick failed", account=account.account_id, error=result.error)
        return result

    def _tick_switch(self, account: Any, verdict: Liveness, now: int, result: AccountTick) -> None:
        switch = self.switches.get(self.venue, account.account_id)
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
        client = self._client(account)

        if decision.extend_to_ms is not None:
            switch = self._extend(client, account, switch, decision, now, result)
        if decision.sweep:
            switch = self._sweep(client, account, switch, decision, now, result)
        if decision.disarm_venue:
            switch = self._venue_off(client, account, switch, now, "disarmed")
        # The extension (if any) has returned: nothing is in flight any more, so a kill or disarm
        # reading this version need not wait for it (deadman.control).
        switch = self.switches.put(dataclasses.replace(switch, last_tick_ms=now, inflight_until_ms=None))
        for action, reason, details in transitions:
            self._audit(switch, action, reason, "ok", now, details)
        if decision.dead:
            self.metrics.count("Dead", venue=self.venue)

    def _bookkeeping(
        self, switch: Switch, decision: Decision, verdict: Liveness, now: int
    ) -> tuple[Switch, list[tuple[str, str, dict[str, Any]]]]:
        """State changes that follow from the decision alone, and the transitions to audit."""
        changes: dict[str, Any] = {}
        audit: list[tuple[str, str, dict[str, Any]]] = []
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
            changes["dead_since_ms"] = None
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
        if self.caps.timer_kind is TimerKind.HEARTBEAT and self.clock() - now > self.config.timing.tick_ms:
            # A heartbeat restarts the venue's fixed timer from the moment it is sent, so one sent
            # long after the liveness read would stretch the native bound: a stale decision is dropped.
            result.note = "heartbeat decision older than one tick: not sent"
            return switch
        # Intent first, conditional on the version read: a kill latched since then wins here.
        inflight = now + int(sum(DEFAULT_TIMEOUT) * 1000)
        switch = self.switches.put(dataclasses.replace(switch, inflight_until_ms=inflight))
        was_off = switch.deadline_ms is None
        try:
            outcome = client.extend(decision.extend_to_ms)
        except VolumeGateError as exc:
            self.metrics.count("VenueErrors", venue=self.venue)
            if switch.native_available:
                self._audit(switch, "native-unavailable", exc.message, "watchdog only", now, {})
            return dataclasses.replace(
                switch, native_available=False, native_reason=exc.message, native_checked_ms=now
            )
        except VenueError as exc:
            return self._venue_error(account, switch, exc, result, extending=True)
        deadline = outcome.venue_deadline_ms or outcome.requested_deadline_ms or decision.extend_to_ms
        result.extended_to_ms = deadline
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

    def _sweep(
        self,
        client: VenueClient,
        account: Any,
        switch: Switch,
        decision: Decision,
        now: int,
        result: AccountTick,
    ) -> Switch:
        try:
            swept = client.sweep()
        except VenueError as exc:
            self._audit(switch, "sweep", decision.reason, f"failed: {exc}", now, {})
            return self._venue_error(account, switch, exc, result, extending=False)
        result.swept = swept.cancelled_count
        self.metrics.count("Swept", venue=self.venue)
        summary = f"cancelled {swept.cancelled_count}, failed {len(swept.failed)}"
        if swept.cancelled_count or swept.failed or decision.fired:
            self._audit(
                switch,
                "sweep",
                decision.reason,
                summary,
                now,
                {"cancelled": list(swept.cancelled_ids), "failed": [f.order_id for f in swept.failed]},
            )
        switch = dataclasses.replace(switch, last_sweep_ms=now, last_sweep=summary)
        if decision.clear_after_sweep and swept.complete:
            switch = self._venue_off(client, account, switch, now, "cleared after watchdog sweep")
        return switch

    def _venue_off(self, client: VenueClient, account: Any, switch: Switch, now: int, why: str) -> Switch:
        try:
            client.disarm()
        except VenueError as exc:
            return self._venue_error(account, switch, exc, AccountTick(account.account_id), extending=False)
        self._audit(switch, "venue-timer-off", why, "ok", now, {"was_deadline_ms": switch.deadline_ms})
        return dataclasses.replace(switch, deadline_ms=None)

    def _venue_error(
        self, account: Any, switch: Switch, exc: VenueError, result: AccountTick, *, extending: bool
    ) -> Switch:
        result.error = str(exc)
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
        self.switches.audit(
            self.venue,
            switch.account,
            action=action,
            actor=ACTOR,
            reason=reason,
            result=result,
            now_ms=now,
            details=details,
        )

    # -- the loop -----------------------------------------------------------------------------
    def run(
        self,
        lease: Lease,
        *,
        remaining_ms: Callable[[], int],
        sleep: Callable[[float], None] = time.sleep,
        on_tick: Callable[[TickReport], None] | None = None,
    ) -> str:
        """Become the venue's loop or leave; tick every T until handed over or out of time."""
        tick_ms = self.config.timing.tick_ms
        role = lease.join()
        if role is Role.LEAVE:
            return "left: a loop and a successor are already running"
        if role is Role.SUCCESSOR and not lease.await_ownership(timeout_ms=2 * tick_ms + 10_000, sleep=sleep):
            return "left: the running loop did not hand over"
        started = self.clock()
        next_tick = started
        ticks = 0
        while True:
            if ticks:
                renewal = lease.renew()
                if renewal is not Renewal.KEEP:
                    return f"{renewal.value} after {ticks} ticks"
            report = self.tick()
            ticks += 1
            if on_tick is not None:
                on_tick(report)
            next_tick += tick_ms
            now = self.clock()
            out_of_run = next_tick - started >= self.config.run_ms
            # Keep one tick of headroom before the Lambda timeout for the last tick and the release.
            out_of_time = remaining_ms() < 2 * tick_ms + 5_000
            if out_of_run or out_of_time:
                lease.release()
                return f"ended after {ticks} ticks ({'run time' if out_of_run else 'lambda time'})"
            if next_tick > now:
                sleep((next_tick - now) / 1000)


def build_refresher(venue: str, *, clock: Clock, metrics: MetricsSink, log: Callable[..., None]) -> Refresher:
    """The composition root used by the Lambda handler (and the sandbox) from the environment."""
    from deadman.credentials import CredentialStore
    from deadman.nonces import DynamoNonceSource

    config = FleetConfig.from_env()
    if venue not in config.enabled_venues:
        raise ConfigError(f"venue {venue!r} is not in ENABLED_VENUES")
    return Refresher(
        venue=venue,
        config=config,
        switches=SwitchStore(config.control_table),
        liveness=LivenessReader(config.liveness_table),
        credentials=CredentialStore.from_env(),
        nonces=DynamoNonceSource(config.control_table),
        clock=clock,
        metrics=metrics,
        log=log,
    )
