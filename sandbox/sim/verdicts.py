"""The promises the campaign can only judge once a scenario has run: reaction after death, false
fires, kill latches, records that caught up, each fault given exactly the excuse it earns.

Why this file is long: each verdict weighs one promise against every fault that may excuse it, and
the excuses only read right beside the rule they soften (plans have their own module already)."""

from __future__ import annotations

from collections import Counter

from deadman.core.policy import SEND_WITHIN_MS, TRANSIT_MS
from deadman.edges.wiring import SECRET_MAX_AGE_S
from sandbox.sim.checks import Violation
from sandbox.sim.faults import NOT_IN_A_KILLS_WAY, PLUMBING, SIGNING_FAULTS, VENUE_FAULTS, Fault
from sandbox.sim.fleet import POLL_MS, ControlCall, Trader
from sandbox.sim.plan_verdicts import PlanVerdicts
from sandbox.sim.scenario import CHECK_EVERY_MS
from sandbox.sim.world import START_MS

# How long before a kill a venue fault may still stand in its way (a key locked out, say).
KILL_LOOKBACK_MS = 20_000


class Verdicts(PlanVerdicts):
    """The checks made once the run is over (`evaluate`)."""

    def evaluate(self) -> None:
        self._timers()
        self._false_fires()
        self._reaction()
        self._kill_latches()
        self._kill_sweeps()
        self._disarms_hold()
        self._plans()
        self._records()
        self._off_periods()

    def _timers(self) -> None:
        """Promise 1, judged once the alarms are known: a timer set late by a relative timeout on a
        slow network (corrected, and late again) is excused only if the alarm went off."""
        for at, detail in self.p1_candidates:
            lookback = at - self.bounds.longest_ms - 60_000
            if self.faults_in({"venue_latency"}, lookback, at) and self.alarm_between(lookback, at + 120_000):
                continue
            self.result.violations.append(Violation("P1 no false extension", at, detail))
            if len(self.result.violations) >= 20:
                return

    def _false_fires(self) -> None:
        """Promise 3: while the trader proves life, the switch is armed and the venue answers, no
        order is cancelled. A sweep by the fleet is never excused: nothing but a kill may make it
        sweep a live trader. A venue timer's fire is excused by a fault of the venue itself, or by a
        plumbing fault the fleet cannot ride out, and then only if the alarm went off."""
        lookback = self.bounds.longest_ms + 5_000
        rules = self.fleet.sim.RULES
        placed_at = {oid: t for t, _a, oid in self.all_placed()}
        for at, account, oid, cause in self.cancels:
            if cause == "kill" or self.killed_at(at, account) or (cause == "sweep" and self.just_armed(at)):
                continue
            if self.killed_until_answered(placed_at.get(oid, at), account):
                continue  # rested while killed (before the arm answered): a kill's book, not protected
            if cause != "sweep" and not self.protected(account, at):
                if not rules.timer_switches_off:
                    # Out of protection: the fleet no longer feeds the timer, which cannot be switched
                    # off (Gemini's rule belongs to the key: the README says how to take it out).
                    continue
                edit = self.s.edit
                if (
                    edit is not None
                    and edit[0] == "account_removed"
                    and self.alarm_between(self.t(edit[1]), at + 60_000)
                ):
                    # Taken out without being retired first, and no loop that still held its keys
                    # switched its timer off: the UnretiredTimers alarm said it would fire.
                    continue
            if not self.contract_alive(at - lookback, at, account):
                continue
            deleted = self.fleet.sim.key_deleted_at(oid)
            if cause != "sweep" and deleted is not None and deleted <= at:
                # The operator deleted the key this order rested on (the simulated rotation does not
                # wait for the trader to move, as the README's third step says to): nothing can keep
                # that session alive, and Gemini's rule takes its orders.
                continue
            dropped = self.fleet.sim.key_dropped_at(oid)
            if cause != "sweep" and dropped is not None and dropped <= at:
                # A second rotation begun before the first was finished (the README: one at a time)
                # named a new retiring key: the one before it is in no secret the fleet reads.
                continue
            if any(
                at - lookback <= self.disarm_starts(c) <= at
                for c in self.fleet.controls
                if c.action == "disarm"
            ):
                continue  # Gemini heartbeats through a disarm; its end is judged by promise 2
            plumbing = self.faults_in(PLUMBING, at - lookback, at)
            if cause != "sweep":
                if self.faults_in(set(rules.cancels_on_its_own), at - lookback, at):
                    continue  # the venue's own rule (Kraken's engine's return): disarm ahead (README)
                venue = self.faults_in(VENUE_FAULTS, at - lookback, at)
                severe = [f for f in plumbing + venue if f.severe(self.s.venue)]
                if severe and self.alarm_between(at - lookback, at + 120_000):
                    continue
            self.violate(
                "P3 no false fire",
                f"{account}: order {oid} cancelled by {cause} at {self.rel(at):.1f}s while the trader beat "
                f"(plumbing faults: {[f.kind for f in plumbing] or 'none'})",
            )

    def took(self, action: str, account: str | None = None) -> list[int]:
        """When each control call of this kind that changed a switch (`account`'s, or any) started.
        A call that reported an error took if the table shows its mode afterwards (a lost answer)."""
        mode = {"arm": "armed", "disarm": "disarmed", "kill": "killed"}[action]
        out = []
        for c in self.fleet.controls:
            if c.action != action:
                continue
            if c.error is None and c.result is not None:
                changed = [
                    sw.account
                    for sw in c.result.switches
                    if getattr(sw, "changed", getattr(sw, "latched", False))
                ]
            elif c.error is not None:
                changed = [a for a, m in c.modes_after.items() if m == mode]
            else:
                changed = []
            if changed and (account is None or account in changed):
                out.append(c.started_ms)
        return out

    def just_armed(self, t: int) -> bool:
        """Within one tick gap (plus send and transit) of an arm: what the killed or disarmed switch
        left behind (a sweep decided before the arm, a venue timer from before the kill) may still
        act. The README tells the trader to rest orders only once status shows the switch extended."""
        grace = self.zombie_window
        return any(
            c.action == "arm" and c.started_ms <= t <= c.started_ms + grace for c in self.fleet.controls
        )

    def killed_until_answered(self, t: int, account: str) -> bool:
        """A kill had started by `t` and no arm that took for `account` after it had answered."""
        kills = [c.started_ms for c in self.fleet.controls if c.action == "kill" and c.started_ms <= t]
        if not kills:
            return False
        arms = [
            c.ended_ms if c.ended_ms is not None else self.world.now_ms
            for c in self.fleet.controls
            if c.action == "arm" and c.started_ms > max(kills) and c.started_ms in self.took("arm", account)
        ]
        return not any(answered <= t for answered in arms)

    def killed_at(self, t: int, account: str) -> bool:
        """A kill had started by `t` and no arm that took for `account` after it had. A kill whose
        latch failed still counts (it swept); an arm that failed does not."""
        kills = [c.started_ms for c in self.fleet.controls if c.action == "kill" and c.started_ms <= t]
        if not kills:
            return False
        return not any(max(kills) < at <= t for at in self.took("arm", account))

    def _book_at(self, t: int) -> dict[str, int]:
        current: dict[str, int] = {}
        for at, book in self.timeline:
            if at > t:
                break
            current = book
        return current

    def _reaction(self) -> None:
        """Promise 2 (and 5): after a trading system's last beat, every order resting on an account it
        gates then (and deadman protects then) is gone within the bound. Each trading system of the
        scenario is judged on its own."""
        self._reaction_of(self.trader, main=True)
        for _system, trader in sorted(self.traders.items()):
            self._reaction_of(trader, main=False)

    def _refused_bound(self, anchor: int, refused: list[Fault], restart: int) -> int:
        """30 s after the first sweep refused: later than the watchdog bound when a zombie rests
        orders after the death and the refusals begin then."""
        first_refused = min(
            (
                x.at_ms
                for x in self.fleet.network.log
                if x.who == "refresher"
                and x.at_ms >= anchor
                and self.fleet.sim.is_cancel(x.path, x.body)
                and any(f.active(x.at_ms - START_MS) for f in refused)
            ),
            default=anchor,
        )
        return max(self.bounds.watchdog_ms, first_refused - anchor) + restart

    def _reaction_of(self, trader: Trader, *, main: bool) -> None:
        running = sorted(b.at_ms for b in trader.beats if b.state == "running")
        stops = [b.at_ms for b in trader.beats if b.state in ("stopped", "malformed")]
        end = self.t(self.duration)
        for i, last in enumerate(running):
            nxt = running[i + 1] if i + 1 < len(running) else end
            gap_needed = self.timing.max_staleness_ms + self.timing.skew_ms + self.bounds.watchdog_ms
            if nxt - last < gap_needed and not any(last <= s < nxt for s in stops):
                continue
            anchor = last
            ended: ControlCall | None = None  # the disarm whose end the bound counts from
            for c in self.fleet.controls:
                until = self._disarmed_until(c)
                if until is None or self.disarm_starts(c) > anchor + self.bounds.longest_ms:
                    continue
                if int(until) > anchor:
                    anchor, ended = int(until), c
            any_fault = self.faults_in(
                PLUMBING | VENUE_FAULTS, anchor - 60_000, anchor + self.bounds.watchdog_ms
            )
            bound = self._bound(anchor, bool(any_fault))
            refused = self.faults_in({"cancel_refused"}, anchor - 60_000, anchor + bound)
            restart = self.fleet.sim.RULES.calls_restart_timer_ms
            if refused and restart is not None and not self.s.kill_keys:
                # Without a kill key every sweep restarts the trading key's rule (Gemini's 30 s): an
                # order it refuses to cancel goes when the rule runs out after the sweeps pause.
                bound = self._refused_bound(anchor, refused, restart)
            # Plus the simulation's own sampling: venue timers are looked at every POLL_MS and the
            # books every CHECK_EVERY_MS.
            check_at = anchor + bound + POLL_MS + CHECK_EVERY_MS
            if check_at >= nxt or check_at > end:
                continue
            # An account moved to another system by the check (a secret edit) is that system's to
            # keep, here and for the deferred timer below: the fleet judges it on the new gating once
            # the edit applies, or at once on a death (the secret is read afresh then; seed 11010020).
            accounts = [
                a
                for a in self.s.accounts
                if self.trader_of(a, last) is trader
                and self.trader_of(a, check_at) is trader
                and self.protected(a, last)
                and self.protected(a, check_at)
            ]
            if not accounts:
                continue
            book = {a: n for a, n in self._book_at(check_at).items() if a in accounts}
            late_placed = [p for p in self.all_placed() if check_at - self.zombie_window <= p[0] <= check_at]
            resting = {a: n for a, n in book.items() if n > len([p for p in late_placed if p[1] == a])}
            empty_at = next(
                (at for at, b in self.timeline if at > last and all(b.get(a, 0) == 0 for a in accounts)), None
            )
            # The reaction reported: the trader's last beat to the first empty book, for deaths no
            # operator touched (a kill empties the book itself; a disarm holds it) and no zombie refills.
            untouched = not any(last - 120_000 <= c.started_ms <= check_at for c in self.fleet.controls)
            zombie = main and self.s.trader == "zombie"
            if empty_at is not None and not zombie and untouched:
                self.result.reactions.append(empty_at - last)
                if not self.faults_in(PLUMBING | VENUE_FAULTS, last - 60_000, check_at):
                    self.result.clean_reactions.append(empty_at - last)
            if not resting:
                continue
            kinds = self._excusing(set(resting), anchor, check_at)
            excuses = self.faults_in(kinds, anchor - self.bounds.longest_ms, check_at)
            # (`resting` holds only accounts this trader still gates at the check: one moved since is
            # the other system's to keep, not owed to this one's disarm.)
            owed = [a for a in self._deferred_timer_owed(ended, anchor, check_at) if a in resting]
            if owed:
                self.violate(
                    "P2 bounded reaction",
                    f"orders on {owed} rested at the disarm's end at {self.rel(anchor):.1f}s and still rest "
                    f"{bound / 1000:g}s after it: the venue timer it should have deferred would have taken "
                    f"them whatever our plumbing did (faults: {[f.kind for f in any_fault] or 'none'})",
                )
                continue
            if excuses and self.alarm_between(anchor - self.bounds.longest_ms, check_at + 120_000):
                continue
            self.violate(
                "P2 bounded reaction",
                f"orders {resting} still rest {bound / 1000:g}s after the last beat at {self.rel(last):.1f}s "
                f"(faults: {[f.kind for f in any_fault] or 'none'})",
            )

    def _disarmed_until(self, c: ControlCall) -> int | None:
        """The end of the disarm `c` made: answered, or - an answer lost while the table took the
        write (seed 10007687: the switch read after it failed) - the end it asked for. A disarm that
        took holds the book to its end and its deferred timer, answered or not."""
        if c.action != "disarm":
            return None
        answered = getattr(c.result, "until_ms", None) is not None
        took = c.error is not None and "disarmed" in c.modes_after.values()
        if answered or (took and "starts_at_ms" not in c.kwargs):
            return self.disarm_end(c)
        return None

    def _excusing(self, resting: set[str], anchor: int, check_at: int) -> set[str]:
        """The faults that excuse orders left past the bound, with their alarm. The venue did not
        answer, or our plumbing kept the fleet from arming the venue timer while the trader lived
        (fail closed): the fleet did what it could, and the alarm said so. A refused cancel excuses
        nothing where the venue's own timer is there to take what the watchdog could not; an account
        under Hyperliquid's volume gate has no such timer, nor has one whose timer has fired since the
        death (what a zombie rests after it only a sweep can take, and a venue refusing the sweep's
        cancels must page: UnprotectedSweepFailures), nor any account of a venue with no timer -
        where a crashed loop excuses nothing either: its standby's takeover is in the bound
        (`_no_timer_bound`). Switch reads failing alone excuse nothing: the loop acts on the switch it
        last read (a disarm's end included) and asks for it through a write the table still takes."""
        kinds = (PLUMBING | VENUE_FAULTS) - {"cancel_refused", "switch_reads"}
        has_timer = self.fleet.sim.RULES.has_timer
        fired = {a for at, a, _oid, why in self.cancels if why == "venue-timer" and anchor < at <= check_at}
        if resting <= self.fleet.gated | fired or not has_timer:
            kinds = kinds | {"cancel_refused"}
        return kinds if has_timer else kinds - {"lambda_crash"}

    def _bound(self, anchor: int, any_fault: bool) -> int:
        """The bound a death anchored here is held to: the watchdog's, or the native timer's when a
        fault was near; with no venue timer, `_no_timer_bound`."""
        native = self.bounds.native_ms
        if native is None:
            return self._no_timer_bound(anchor)
        return max(native if any_fault else self.bounds.watchdog_ms, self.bounds.watchdog_ms)

    def _no_timer_bound(self, anchor: int) -> int:
        """Where the venue has no timer, the watchdog bound (which counts one standby takeover) or,
        when a loop crashed near the death, the moment its work was back in hand (`_replaced`: the
        lease lapsed, the standby or the next event took over and ticked) plus that tick's send and
        transit - whichever is later. Nothing else may stretch it: every other fault near the death
        excuses an order left only with its alarm."""
        bound = self.bounds.watchdog_ms
        for crash in self.faults_in({"lambda_crash"}, anchor - 60_000, anchor + bound):
            bound = max(bound, crash.end_ms + START_MS - anchor + SEND_WITHIN_MS + TRANSIT_MS)
        return bound

    def _deferred_timer_owed(self, ended: ControlCall | None, end: int, check_at: int) -> list[str]:
        """After a disarm that should have deferred its venue timers to its end + S + T + G, those
        timers owe the orders resting at its end their bound whatever our plumbing does after (the
        fleet gone, the table down): only a fault of the venue itself, or an operator's later hand,
        excuses one still resting. Orders placed after the end are not owed: the first tick may
        rightly clear the timer after a complete sweep (rationed triggers), leaving them to the
        watchdog. The accounts that still hold such orders at `check_at`."""
        if ended is None or ended.result is None or ended.error:
            return []
        if ended.kwargs.get("starts_at_ms") is not None or ended.kwargs.get("timer_off"):
            return []  # a planned window is deferred by the tick that opens it; off was asked for
        if any(c is not ended and ended.started_ms <= c.started_ms <= check_at for c in self.fleet.controls):
            return []
        if self.faults_in(VENUE_FAULTS, ended.started_ms, check_at):
            return []
        # Judged on what the disarm should have left, which its answer names: "deferred", or "off" in
        # place of it (the hazard: a timer switched off that nobody switches on again). A timer that
        # belongs to the key (not_supported), a gated account (none) or a refused request (failed, which
        # the next tick retries) owes nothing here.
        deferred = {sw.account for sw in ended.result.switches if sw.venue_timer in ("deferred", "off")}
        return sorted(
            {
                account
                for (account, oid), seen in self.first_seen.items()
                if account in deferred and seen <= end and not self.cancelled_by(account, oid, check_at)
            }
        )

    def _kill_sweeps(self) -> None:
        """Promise 4 whatever our plumbing does: a kill that answered has swept every order resting
        on its targets when it began, latched or not (with DynamoDB down its nonces come from the
        clock). Only the venue standing in the way of its cancels, or no credentials to sign with
        (Secrets Manager out of reach: the answer names break-glass), excuses an order left. Orders
        are those seen resting in a sample before the kill began (one placed and gone between two
        samples was never seen resting, nor seen going)."""
        excuses = (VENUE_FAULTS - NOT_IN_A_KILLS_WAY) | SIGNING_FAULTS
        for c in self.fleet.controls:
            if c.action != "kill" or c.ended_ms is None or c.error or c.result is None:
                continue
            by = c.ended_ms + POLL_MS + CHECK_EVERY_MS
            if by > self.t(self.duration):
                continue  # its last cancels may land after the run's last sample
            targets = {sw.account for sw in c.result.switches}
            left = sorted(
                {
                    account
                    for (account, oid), seen in self.first_seen.items()
                    if account in targets and seen < c.started_ms and not self.cancelled_by(account, oid, by)
                }
            )
            if not left or self.faults_in(excuses, c.started_ms - KILL_LOOKBACK_MS, by):
                continue
            self.violate(
                "P4 kill sweeps",
                f"orders on {left} rested when the kill began at {self.rel(c.started_ms):.1f}s and still "
                f"rest after it answered at {self.rel(c.ended_ms):.1f}s (latched: "
                f"{sorted(sw.account for sw in c.result.switches if sw.latched)})",
            )

    def _kill_latches(self) -> None:
        """Promise 4: after a kill answered, nothing is extended and every tick sweeps until arm."""
        # Before the Scheduler's first event reached the fleet (missed or late) no loop runs to sweep.
        fleet_from = min((i.started_ms for i in self.fleet.invocations), default=self.t(self.duration))
        for c in self.fleet.controls:
            if c.action != "kill" or c.ended_ms is None or c.error:
                continue
            if not all(sw.latched for sw in c.result.switches):
                continue  # the answer said the latch did not take (DynamoDB down): nothing latched
            arms = [at for at in self.took("arm") if at > c.started_ms]
            until = min(arms) if arms else self.t(self.duration)
            latched = {sw.account for sw in c.result.switches}
            # An account added to the secret after the kill was not latched by it: its extensions are
            # rightful (the venue log does not name the account of a Hyperliquid action).
            lag = SECRET_MAX_AGE_S * 1000 + self.timing.tick_ms  # a secret edit reaches the loop this late
            whole = latched >= {
                a
                for a in self.s.accounts
                if self.protected(a, until) or self.protected(a, c.started_ms - lag)
            }
            for landed in self.fleet.network.log:
                if not whole or not (c.ended_ms < landed.at_ms < until) or landed.who != "refresher":
                    continue
                if self.fleet.sim.is_extension(landed.path, landed.body) and not landed.gave_up:
                    self.violate(
                        "P4 kill latches",
                        f"an extension landed {self.rel(landed.at_ms):.1f}s, after the kill answered",
                    )
            placed = [p for p in self.all_placed() if self.protected(p[1], p[0]) and p[1] in latched]
            for at, account, oid in placed:
                start = max(at, c.ended_ms)
                arms = [a_ms for a_ms in self.took("arm", account) if a_ms > c.started_ms]
                until = min(arms) if arms else self.t(self.duration)
                # Taken out of the secret (retired or not), the account is no longer deadman's to sweep.
                until = min(until, self.fleet.removed.get(account, until))
                if start >= until - self.zombie_window:
                    continue
                gone = self.cancelled_at(account, oid)
                # The gap counts from the order, or from the fleet's first invocation if it came later.
                limit = (
                    max(start, fleet_from)
                    + self.zombie_window
                    + self.bounds.watchdog_ms
                    - self.timing.max_staleness_ms
                )
                added = next((m for m, a in self.edits_of("account_added") if a == account), None)
                if added is not None:
                    # A loop learns of an account added to the secret within the secrets' cache age
                    # (the README says a change applies within a minute), and sweeps it from then.
                    limit = max(limit, added + SECRET_MAX_AGE_S * 1000 + self.zombie_window)
                if (gone is None or gone > limit) and limit < until:
                    excuses = self.faults_in(VENUE_FAULTS, start - 60_000, limit) + [
                        f for f in self.faults_in(PLUMBING, start - 60_000, limit) if f.severe(self.s.venue)
                    ]
                    if excuses and self.alarm_between(start - 60_000, limit + 120_000):
                        continue
                    self.violate(
                        "P4 kill latches",
                        f"{account}: order {oid} rested past {self.rel(limit):.1f}s after the kill",
                    )
                    break

    def _disarms_hold(self) -> None:
        """Promise 5 as the operator relies on it: once a disarm has answered, no sweep cancels an
        order of a switch it disarmed until it ends (or a kill or an arm came). A sweep decided before
        the disarm and still in flight is outwaited by the disarm, never let land after its answer."""
        for c in self.fleet.controls:
            if c.action != "disarm" or c.ended_ms is None or c.error or c.result is None:
                continue
            if c.kwargs.get("starts_at_ms") is not None:
                continue  # a planned window: its tick opens it (judged by the window's own promise)
            until = int(c.result.until_ms)
            took = {sw.account for sw in c.result.switches if getattr(sw, "disarmed", False)}
            later = [
                x.started_ms
                for x in self.fleet.controls
                if x.action in ("kill", "arm", "disarm") and x is not c
            ]
            stop = min([until, *(t for t in later if t > c.started_ms)])
            # Disarmed from its answer on (whatever was decided before has been outwaited).
            swept = self.sweep_inside(took, c.ended_ms, stop)
            if swept is not None:
                at, account, oid = swept
                self.violate(
                    "P5 disarmed: no sweep",
                    f"{account}: order {oid} swept at {self.rel(at):.1f}s, after the disarm of "
                    f"{self.rel(c.started_ms):.1f}s answered ({self.rel(c.ended_ms):.1f}s)",
                )

    def _records(self) -> None:
        """Promise 6: every control call and every sweep that cancelled something is on the record."""
        audits = {a: self.fleet.audit(a) for a in self.s.accounts}
        actions = Counter(i["action"]["S"] for items in audits.values() for i in items)
        for c in self.fleet.controls:
            if (
                c.ended_ms is not None
                and actions["off" if c.kwargs.get("off") else c.action] == 0
                and not self.faults_in(PLUMBING, c.started_ms - 1, c.ended_ms + 1)
            ):
                self.violate(
                    "P6 on the record", f"{c.action} at {self.rel(c.started_ms):.1f}s has no audit entry"
                )
        # A sweep seen in the run's last tick may be recorded after the run ends (the world stops
        # between the cancel and its audit write): only sweeps a tick before the end must be on record.
        last = self.t(self.duration) - self.timing.tick_ms
        swept = Counter(a for at, a, _, cause in self.cancels if cause == "sweep" and at <= last)
        unnamed: Counter[str] = Counter()
        if not self.fleet.sim.RULES.cancel_all_names_orders:
            # Placed between the sweep's listing and its cancel-all: cancelled, not counted on record.
            placed = {oid: t for t, _a, oid in self.all_placed()}
            unnamed.update(
                a
                for at, a, oid, cause in self.cancels
                if cause == "sweep" and at <= last and at - placed.get(oid, 0) <= TRANSIT_MS
            )
        for account, count in swept.items():
            n = count - unnamed[account]
            recorded = 0
            for item in audits[account]:
                if item["action"]["S"] in ("sweep", "kill-sweep"):
                    text = item["result"]["S"]
                    words = text.split()
                    if len(words) > 1 and words[0] == "cancelled":
                        recorded += int(words[1].rstrip(",;"))
            if recorded < n and not self.faults_in(PLUMBING | VENUE_FAULTS, START_MS, self.t(self.duration)):
                self.violate("P6 on the record", f"{account}: {n} orders swept, {recorded} on the record")

    def _off_periods(self) -> None:
        """Promise 6 for off periods: a trader away on purpose pages no one. A SystemDead counted while
        every switch its system gates had been in an off period for the whole tick before it, and
        before that period's own end, is a page nobody asked for. The end is the period's own (the
        table's `disarmed_until_ms`), not the sampling grid: a tick that judged at or after the end
        rightly pages a trader still dead, however soon after the last sample that was."""
        span = self.timing.tick_ms + 1_000
        for metric in self.fleet.metrics:
            if metric.name != "SystemDead":
                continue
            system = metric.dims.get("system", self.trader.system)
            accounts = [a for a in self.s.accounts if self.trader_of(a, metric.at_ms).system == system]
            seen = [ends for at, ends in self.off_samples if metric.at_ms - span <= at <= metric.at_ms]
            if not seen or not accounts or not all(ends[a] is not None for ends in seen for a in accounts):
                continue
            ends_now = [seen[-1][a] for a in accounts]
            if all(end is not None and end > metric.at_ms for end in ends_now):
                self.violate(
                    "P6 off period",
                    f"{system}'s death paged at {self.rel(metric.at_ms):.1f}s, before its off period's end",
                )
