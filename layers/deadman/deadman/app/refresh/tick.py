"""One tick of one venue's switches (the loop that repeats it holding the lease: `loop.py`).

Why this file is long: the order of reads and writes within a tick - read, decide, intent, act,
record - is the safety argument for promises 3 and 4, and it reads best top to bottom in one place
(what a venue action does once decided is in `acts.py`, the bookkeeping that follows in `record.py`).

A tick fetches the venue's secret, reads the liveness row of every trading system that gates one of
its accounts (side by side, each judged by the clock read after its own read), then for each account,
side by side so one slow or failing account never delays or stops another: read the switch,
`policy.decide`, write the intent, act on the venue, record state, audit and metrics.

The order of writes is what keeps promise 4 (kill latches): before any venue request the refresher
writes its intent conditionally on the version it read; a kill latched after the read bumps the
version, the intent write fails, and nothing is sent. The intent carries how long the request may be
in flight (`inflight_until_ms`), so that a kill (for an extension) or a disarm (for anything) can
outwait it.

Every request leaves by a send-by time counted from every fact it rests on (`policy.send_by`): its
intent, the lease it is sent under, and for an extension the oldest beat it rests on. A slow store
between the read and the send costs nothing while those facts hold; a request whose facts aged is
not sent, and the loop decides again on a fresh read.

What a fault in our own plumbing does (promise 3: never a reason to cancel):
- a failed venue call is tried again within the tick (a fresh read and decision each time), so a
  hiccup does not cost a whole tick of the venue's slack (Gemini: two lost ticks would be 30 s);
- a switch the table will not return is judged by the last state this loop read: a kill keeps
  sweeping for a little while, a disarm that ended is over, a dead trader is swept (record.py);
- a dead verdict is judged again on a secret at most one tick old before anything is swept, so an
  account moved to another trading system is never swept on the old one's death.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from deadman.app.refresh.acts import retryable
from deadman.app.refresh.report import AccountTick, TickReport
from deadman.app.refresh.retire import Retirements
from deadman.core.clock import Clock
from deadman.core.concurrency import Parallel, ThreadParallel
from deadman.core.config import FleetConfig
from deadman.core.errors import DeadmanError
from deadman.core.liveness import Liveness, Verdict, combine, unreadable
from deadman.core.metrics import MetricsSink
from deadman.core.policy import LivenessView, decide
from deadman.core.venue import Capabilities, NonceSource, VenueAccount, VenueClient
from deadman.stores.credentials import VenueSecret, VenueSecrets
from deadman.stores.liveness import LivenessReader, read_and_judge
from deadman.stores.switches import Switch, SwitchConflict, SwitchStore
from deadman.venues import driver as venue_driver
from deadman.venues.errors import VenueError

ClientFactory = Callable[[VenueAccount], VenueClient]


class Ticker(Retirements):
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
        venue_of = venue_driver(venue)
        self.caps: Capabilities = venue_of.spec.capabilities
        self._client_factory = client_factory or (
            lambda account: venue_of.client(account, nonces=nonces, clock=clock, parallel=self.parallel)
        )
        self._clients: dict[tuple[str, str], tuple[VenueAccount, VenueClient]] = {}
        # The last state read or written per account, with when the table confirmed it: what the
        # loop acts on when the table cannot be read.
        self._known: dict[str, tuple[Switch, int]] = {}
        # The accounts of the last secret read, kept to notice one taken out of it (see `_retire`).
        self._accounts: dict[str, VenueAccount] = {}
        self._retiring: dict[str, tuple[VenueAccount, int]] = {}
        self._retired_done: set[str] = set()
        self._said_unconfigured = False
        # Set by the loop before each tick: the lease is surely this loop's until then; every request
        # must have landed by that time (another loop may act after it).
        self.lease_until_ms: int | None = None

    def _make_client(self, account: VenueAccount) -> VenueClient:
        return self._client_factory(account)

    def tick(self, only: frozenset[str] | None = None) -> TickReport:
        self.metrics.count("Ticks", venue=self.venue)
        # The secret first (cached, or a slow Secrets Manager call): the liveness rows are read last,
        # as close to the decisions they justify as can be.
        problem = ""
        try:
            secret: VenueSecret | None = self.credentials.get(self.venue)
        except (DeadmanError, ValueError) as exc:
            # No usable secret: nothing can be extended (fail closed); the venue timers run out.
            secret, problem = None, str(exc)
        verdicts: dict[str, Liveness] = {}
        gating = self._gating(secret, verdicts)
        acting = verdicts  # what the switches act on (the verdicts, unless a death cannot be placed)
        verdict = verdicts[self.config.system]
        now = verdict.at_ms if verdict.at_ms is not None else self.clock()
        report = TickReport(self.venue, now, verdict)
        if verdict.age_ms is not None:
            self.metrics.gauge("LivenessAgeSeconds", verdict.age_ms / 1000, venue=self.venue)
        if secret is None:
            report.error = problem
            self.metrics.count("VenueErrors", venue=self.venue)
            self.log("credentials unusable", error=problem)
            return report
        if any(self._dead(v) for v in self._combined(gating, verdicts).values()):
            # Nothing is swept on a gating older than a tick: an account moved to another trading
            # system must not be swept because the one it left has stopped.
            fresh = self._fresh_secret()
            if fresh is None:
                acting = self._not_known_dead(verdicts)
            else:
                secret = fresh
                gating = self._gating(secret, verdicts)
        if only is None:
            self._notice_removed(secret)
        accounts = [a for a in secret.accounts if only is None or a.account_id in only]
        if not secret.accounts and not self._said_unconfigured:
            # The stack's first deploy: the secret lists no accounts yet. Nothing to protect, nothing
            # failing: said once, not alarmed every tick.
            self._said_unconfigured = True
            self.log("venue not configured: its secret lists no accounts")
        now = max([now, *(v.at_ms for v in verdicts.values() if v.at_ms is not None)])
        report.at_ms = now
        combined = self._combined(gating, acting)
        jobs = [
            partial(
                self._tick_account,
                a,
                combined[a.account_id],
                now,
                ",".join(gating[a.account_id]) if secret.systems.get(a.account_id) else None,
            )
            for a in accounts
        ]
        outcomes = self.parallel.run(jobs)
        for account, outcome in zip(accounts, outcomes, strict=True):
            report.accounts.append(outcome.value or AccountTick(account.account_id, error="not finished"))
        self._count_deaths(report, gating, verdicts)
        self._retire_removed()
        return report

    # -- who gates what ---------------------------------------------------------------------------

    def _gating(
        self, secret: VenueSecret | None, verdicts: dict[str, Liveness]
    ) -> dict[str, tuple[str, ...]]:
        """Each account's trading systems (the stack's SystemName unless the secret names others),
        with every row they need (and the stack's own) read - side by side, each judged by the clock
        after its own read."""
        accounts = secret.accounts if secret is not None else ()
        systems = secret.systems if secret is not None else {}
        gating = {
            a.account_id: tuple(systems.get(a.account_id, ())) or (self.config.system,) for a in accounts
        }
        wanted = {self.config.system, *(s for names in gating.values() for s in names)}
        missing = sorted(wanted - set(verdicts))
        for system, outcome in zip(
            missing, self.parallel.run([partial(self._judge, s) for s in missing]), strict=True
        ):
            verdicts[system] = outcome.value if isinstance(outcome.value, Liveness) else self._unread(system)
        return gating

    def _unread(self, system: str) -> Liveness:
        return dataclasses.replace(unreadable(f"read of {system} did not finish"), at_ms=self.clock())

    @staticmethod
    def _combined(gating: dict[str, tuple[str, ...]], verdicts: dict[str, Liveness]) -> dict[str, Liveness]:
        return {account: combine([(s, verdicts[s]) for s in names]) for account, names in gating.items()}

    @staticmethod
    def _dead(verdict: Liveness) -> bool:
        return not verdict.alive and verdict.verdict is not Verdict.UNREADABLE

    def _fresh_secret(self) -> VenueSecret | None:
        """The secret as it is now (read after the death was), or None if Secrets Manager will not say.
        A copy even a tick old may predate an edit that moved an account off the dead system just
        before it stopped (seed 10007852: moved at 65 s, the system stopped at 69 s, the copy read at
        64 s): read again while a death is seen, one GetSecretValue a tick."""
        try:
            return self.credentials.get(self.venue, max_age_ms=0, fresh=True)
        except (DeadmanError, ValueError) as exc:
            self.metrics.count("VenueErrors", venue=self.venue)
            self.log("secret not read before a sweep: nothing swept this tick", error=str(exc))
            return None

    def _not_known_dead(self, verdicts: dict[str, Liveness]) -> dict[str, Liveness]:
        """Whom a dead system gates is not known for sure without the secret as it is now (an account
        may have moved to a live one): a failure of ours never sweeps, so a death is taken as
        unreadable this tick - no sweep, no extension, the venue timers stand - and judged again at
        the next tick."""
        unknown = "a death, but the secret could not be read to know whom it gates"
        return {
            system: Liveness(Verdict.UNREADABLE, v.beat_ms, v.age_ms, f"{unknown} ({v.detail})", v.at_ms)
            if self._dead(v)
            else v
            for system, v in verdicts.items()
        }

    def _count_deaths(
        self, report: TickReport, gating: dict[str, tuple[str, ...]], verdicts: dict[str, Liveness]
    ) -> None:
        """One alarm per trading system across venues and accounts (Metrics Insights, by system),
        unless every switch it gates is in an off period: a trader away for the weekend on purpose
        is not paged about all weekend. A switch this tick could not read counts as not off."""
        off = {a.account for a in report.accounts if a.off}
        gated: dict[str, list[str]] = {}
        for account in (a.account for a in report.accounts):
            for system in gating.get(account, (self.config.system,)):
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
        if verdict.verdict is Verdict.UNREADABLE:
            self.metrics.count("StoreErrors", venue=self.venue)
        return verdict

    # -- one account --------------------------------------------------------------------------------

    def _tick_account(
        self, account: VenueAccount, verdict: Liveness, now: int, systems: str | None
    ) -> AccountTick:
        result = AccountTick(account.account_id)
        try:
            self._tick_switch(account, verdict, now, result, systems)
        except SwitchConflict as exc:
            # Someone (a kill, an operator) wrote the switch mid-tick: their write stands.
            result.note = f"yielded to a concurrent write: {exc}"
        except Exception as exc:  # one account's failure never stops another's
            result.error = f"{type(exc).__name__}: {exc}"
            result.retry = result.retry or retryable(exc)
            self.metrics.count(
                "VenueErrors" if isinstance(exc, VenueError) else "StoreErrors", venue=self.venue
            )
            self.log("tick failed", account=account.account_id, error=result.error)
        return result

    def _tick_switch(
        self, account: VenueAccount, verdict: Liveness, now: int, result: AccountTick, systems: str | None
    ) -> None:
        if verdict.verdict is Verdict.UNREADABLE:
            result.retry = True  # judged on a fresh read soon, within the venue timer's slack
        read = self._read_switch(account.account_id, result)
        if read is None:
            return  # fail closed: no extension, no sweep; the venue's own timer stands
        switch, remembered = read
        live = LivenessView(
            alive=verdict.alive, beat_ms=verdict.beat_ms, unreadable=verdict.verdict is Verdict.UNREADABLE
        )
        decision = decide(
            now_ms=now, liveness=live, switch=switch.view(), caps=self.caps, timing=self.config.timing
        )
        result.decision = decision
        # Transition bookkeeping rides on the tick's next write (the intent write when it acts, else
        # the final one); its audit entries follow once that state is stored.
        switch, transitions = self._bookkeeping(switch, decision, verdict, now)
        result.off = switch.is_off
        client = self._client(account)
        sweeping = decision.sweep and not self._sweep_paused(account, switch, now, result)
        if decision.extend_to_ms is not None or sweeping or decision.disarm_venue:
            before = switch.version
            switch, fence = self._intent(
                switch, decision, sweep=sweeping, remembered=remembered, result=result
            )
            stored = switch.version != before
            if decision.extend_to_ms is not None:
                switch = self._extend(client, account, switch, decision, now, result, fence)
            if sweeping:
                switch = self._sweep(account, switch, decision, now, result, fence)
            if decision.disarm_venue:
                switch = self._venue_off(client, account, switch, now, "disarmed", result, fence)
            if stored:
                # The transitions were stored with the intent: on the record now, since the tick's
                # last write may yet lose to a concurrent one (a loop handed over to) while the state
                # they describe stays stored - a planned window opened and never said so. After the
                # venue requests, not before: an audit append between the intent and the send would
                # age the decision past its send-by time on a slow table (seed 9810095).
                self._audit_all(switch, transitions, now)
                transitions = []
        # Every request has returned: nothing is in flight any more, so a kill or disarm reading this
        # version need not wait for it (deadman.app.control).
        final = dataclasses.replace(
            switch, last_tick_ms=now, inflight_until_ms=None, systems=systems, retired_at_ms=None
        )
        try:
            switch = self._store(final)
        except SwitchConflict as exc:
            # A kill or an operator wrote meanwhile: theirs stands, but the venue timer we just set
            # is real and must be on the record (or a killed switch would never clear it), and so is
            # the tick itself (status must not show a loop gone quiet in the middle of an incident).
            self._record_after_conflict(account.account_id, exc.current, now, result.extended_to_ms)
            raise
        self._audit_all(switch, transitions, now)
        if decision.dead:
            self.metrics.count("Dead", venue=self.venue)

    def _audit_all(
        self, switch: Switch, transitions: list[tuple[str, str, dict[str, Any]]], now: int
    ) -> None:
        for action, reason, details in transitions:
            self._audit(switch, action, reason, "ok", now, details)
