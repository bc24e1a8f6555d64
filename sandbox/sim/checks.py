"""The promises as the campaign checks them, every CHECK_EVERY_MS of virtual time while a scenario
runs: what the world looked like, and what a switch record or a venue timer may not be.

Why this file is long: the world's record, the faults as they really happened (a crash where it
was replaced) and the checks made at each step read one another; apart, each would re-derive them.
Each promise's check carries the excuses the README grants it (a fault the fleet cannot ride out
with its alarm, a secret edit still applying, a disarm's deferred timer)."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from deadman.core.policy import (
    MIN_LEAD_MARGIN_MS,
    SEND_WITHIN_MS,
    SPARE_POLL_MS,
    TRANSIT_MS,
    Mode,
    ReactionBounds,
    Timing,
)
from deadman.edges.wiring import SECRET_MAX_AGE_S
from sandbox.sim.faults import PLUMBING, VENUE_FAULTS, Fault
from sandbox.sim.fleet import CONTROL, ControlCall, Fleet, Trader
from sandbox.sim.scenario import CHECK_EVERY_MS, Scenario, Setting
from sandbox.sim.world import START_MS, World

SECOND_SYSTEM = "strat-b"  # the second trading system of a scenario that has one


@dataclass
class Violation:
    promise: str
    at_ms: int
    detail: str

    def line(self) -> str:
        return f"{self.promise} at {(self.at_ms - START_MS) / 1000:.1f}s: {self.detail}"


@dataclass
class Result:
    scenario: Scenario
    checks: int = 0
    violations: list[Violation] = field(default_factory=list)
    reactions: list[int] = field(default_factory=list)  # last beat -> book empty, ms
    clean_reactions: list[int] = field(default_factory=list)  # the same, deaths with no fault near
    trace: list[str] = field(default_factory=list)
    faults: int = 0
    fired: Counter[str] = field(default_factory=Counter)  # fault kind -> times it acted


class Checks:
    """What a run is made of, and the checks made at every step (`Run._check`)."""

    s: Scenario
    setting: Setting
    timing: Timing
    duration: int
    world: World
    rng: random.Random
    fleet: Fleet
    trader: Trader
    bounds: ReactionBounds
    result: Result
    zombie_window: int
    books: dict[str, set[str]]
    first_seen: dict[tuple[str, str], int]
    cancels: list[tuple[int, str, str, str]]
    fires_seen: int
    empty_since: dict[str, int | None]
    timeline: list[tuple[int, dict[str, int]]]
    p1_candidates: list[tuple[int, str]]
    lockouts: list[tuple[int, int]]
    overshoot_since: dict[str, int]
    off_samples: list[tuple[int, dict[str, int | None]]]
    traders: dict[str, Trader]

    def t(self, ms: int) -> int:
        return START_MS + ms

    def rel(self, at: int) -> float:
        return (at - START_MS) / 1000

    def violate(self, promise: str, detail: str) -> None:
        if len(self.result.violations) < 20:
            self.result.violations.append(Violation(promise, self.world.now_ms, detail))

    def trader_of(self, account: str | None, at_ms: int | None = None) -> Trader:
        """The trader whose liveness gates `account` at `at_ms` (now by default), as the secret said
        then (an operator may have moved the account to another system). None: the main one."""
        if account is None:
            return self.trader
        when = self.world.now_ms if at_ms is None else at_ms
        systems = self.fleet.systems_of(account, when)
        return self.traders.get(systems[0], self.trader)

    def all_placed(self) -> list[tuple[int, str, str]]:
        """Every order the scenario's trading systems placed: (when, account, order)."""
        return [p for trader in (self.trader, *self.traders.values()) for p in trader.placed]

    def cancelled_at(self, account: str, oid: str) -> int | None:
        """When the order was first seen gone from its book, if it was (asked once the run is over:
        worked out once for every order)."""
        first: dict[tuple[str, str], int] | None = self.__dict__.get("_cancelled_at")
        if first is None:
            first = {}
            for at, a, o, _cause in reversed(self.cancels):
                first[(a, o)] = at
            self.__dict__["_cancelled_at"] = first
        return first.get((account, oid))

    def cancelled_by(self, account: str, oid: str, t: int) -> bool:
        """The order was seen gone from its book at or before `t`."""
        gone = self.cancelled_at(account, oid)
        return gone is not None and gone <= t

    def protected(self, account: str, at_ms: int) -> bool:
        """The account is in the secret at `at_ms`: deadman protects it (before an operator added it,
        or after one took it out, it does not)."""
        removed = self.fleet.removed.get(account)
        added = next((m for m, a, *_ in self.edits_of("account_added") if a == account), None)
        if removed is not None and at_ms >= removed:
            return False
        return added is None or at_ms >= added

    def edits_of(self, kind: str) -> list[tuple[int, str]]:
        edit = self.s.edit
        if edit is None or edit[0] != kind:
            return []
        return [(self.t(edit[1]), "b")]

    def traders_of(self, account: str | None, at_ms: int) -> list[Trader]:
        """Every trading system that gates `account` at `at_ms` (all must be alive for it to be)."""
        if account is None:
            return [self.trader]
        return [self.traders.get(system, self.trader) for system in self.fleet.systems_of(account, at_ms)]

    def last_beat(self, t: int, account: str | None = None, *, gated_at: int | None = None) -> int | None:
        """The account's last true beat: the oldest of its systems' last running beats (the systems
        that gated it at `gated_at`, by default `t`)."""
        lasts = []
        for trader in self.traders_of(account, t if gated_at is None else gated_at):
            running = [b.at_ms for b in trader.beats if b.state == "running" and b.at_ms <= t]
            if not running:
                return None
            lasts.append(max(running))
        return min(lasts)

    def stopped_after(self, t0: int, t1: int, account: str | None = None) -> bool:
        """A system gating the account said it is not running in [t0, t1]: a clean stop, or a
        malformed row (which replaces the last good one at once: no proof of life from that moment)."""
        return any(
            b.state in ("stopped", "malformed") and t0 <= b.at_ms <= t1
            for trader in self.traders_of(account, t1)
            for b in trader.beats
        )

    def contract_alive(self, t0: int, t1: int, account: str | None = None) -> bool:
        """Every system that gates the account at t1 proved life all through [t0, t1]: no gap longer
        than S - K between running beats, and no clean stop."""
        limit = self.timing.max_staleness_ms - self.timing.skew_ms
        if self.stopped_after(t0 - limit, t1, account):
            return False
        for trader in self.traders_of(account, t1):
            beats = sorted(b.at_ms for b in trader.beats if b.state == "running" and b.at_ms <= t1)
            prior = [b for b in beats if b <= t0]
            if not prior:
                return False
            points = [prior[-1]] + [b for b in beats if b > t0] + [t1]
            if not all(b - a <= limit for a, b in itertools.pairwise(points)):
                return False
        return True

    def switch_row(self, account: str) -> dict[str, Any] | None:
        # Straight from the table's rows (no copy), by a key worked out once per account: the checker
        # looks several times a step, and this is the campaign's hottest path.
        table = self.fleet.dynamo._tables[CONTROL]
        keys: dict[str, Any] = self.__dict__.setdefault("_switch_keys", {})
        if account not in keys:
            keys[account] = table.key_of_key({"pk": {"S": f"SWITCH#{self.s.venue}"}, "sk": {"S": account}})[0]
        return table.rows.get(keys[account])

    def mode(self, account: str) -> tuple[str, int | None]:
        item = self.switch_row(account)
        if item is None:
            return Mode.ARMED.value, None
        until = item.get("disarmed_until_ms", {}).get("N")
        return item["mode"]["S"], int(until) if until is not None else None

    def off_until(self, account: str, now: int) -> int | None:
        """The end of the off period the switch is in, or None (one past its end re-arms at the next
        tick, and that tick rightly pages a trader still dead)."""
        mode, until = self.mode(account)
        row = self.switch_row(account) or {}
        off = mode == Mode.DISARMED.value and bool(row.get("off", {}).get("BOOL"))
        return until if off and until is not None and until > now else None

    def control_windows(self, action: str) -> list[tuple[int, int]]:
        """[started, ended) of each control call of this kind (ended = now while running)."""
        out = []
        for c in self.fleet.controls:
            if c.action == action:
                out.append((c.started_ms, c.ended_ms if c.ended_ms is not None else self.world.now_ms))
        return out

    def alarm_times(self) -> list[int]:
        """When an alarm of template.yaml would have gone off (per-minute periods, as CloudWatch)."""
        per: dict[tuple[str, int], float] = {}
        for m in self.fleet.metrics:
            slot = (m.name, m.at_ms // 60_000)
            per[slot] = per.get(slot, 0.0) + m.value
        times = []
        for (name, minute), value in per.items():
            limit = {
                "VenueErrors": 3,
                "ExtendFailedWhileAlive": 2,
                "StoreErrors": 3,
                "NativeFires": 1,
                "UnretiredTimers": 1,
                "UnprotectedSweepFailures": 1,
            }.get(name)
            if limit is not None and value >= limit:
                times.append((minute + 1) * 60_000)
        ticks = sorted(m.at_ms for m in self.fleet.metrics if m.name == "Ticks")
        for a, b in zip([self.t(0), *ticks], [*ticks, self.world.now_ms], strict=False):
            if b - a > 120_000:
                times.append(a + 120_000)
        times += [t + 60_000 for t in self.fleet.lambda_errors + self.fleet.throttled]
        return sorted(times)

    def alarm_between(self, t0: int, t1: int) -> bool:
        return any(t0 <= a <= t1 for a in self.alarm_times())

    def venue_timer(self, account: str) -> int | None:
        return self.fleet.sim.timer_at(account)

    def _check_record(self, account: str, now: int) -> None:
        """Promise 6, as status shows it: while nothing is at fault the record keeps up with the loop
        (every switch written at every tick), so what `deadman status` prints is true."""
        if now - START_MS < 90_000:
            return  # after the first invocations
        # Every sample, not a coarser grid (which would miss a gap shorter than its step): the age is
        # cheap to read, so it is read first and the excuses are looked for only when it is too old.
        row = self.switch_row(account)
        last = row.get("last_tick_ms", {}).get("N") if row else None
        limit = self.timing.grace_ms + SEND_WITHIN_MS + TRANSIT_MS
        if last is not None and now - int(last) <= limit:
            return
        if self.s.edit is not None and now - self.t(self.s.edit[1]) < SECRET_MAX_AGE_S * 1000 + 30_000:
            return  # a secret edit reaches a warm loop within the secrets' cache age, then a tick
        if not self.protected(account, now):
            return  # not in the secret now: not ticked, and rightly so
        quiet_since = now - 60_000
        if self.faults_in(PLUMBING | VENUE_FAULTS, quiet_since, now) or self.fleet.throttled:
            return
        if any(at <= now <= self._replaced(at) + 10_000 for at in self.fleet.crashes):
            return  # a crashed loop is replaced once its lease lapses (by the standby, or the next event)
        age = "never" if last is None else f"{(now - int(last)) / 1000:.1f}s old"
        self.violate(
            "P6 on the record", f"{account}: the switch's last tick is {age} while nothing was at fault"
        )

    def _check_timer(self, account: str, now: int) -> None:
        """Promise 1: no venue timer the fleet set reaches past the last true beat + native bound."""
        if not self._overshoots(account, now):
            self.overshoot_since.pop(account, None)

    def _overshoots(self, account: str, now: int) -> bool:
        timer = self.venue_timer(account)
        if timer is None or timer <= now:
            return False
        mode, _until = self.mode(account)
        if mode != Mode.ARMED.value:
            return False
        beat = self.last_beat(now, account)
        # An account moved to other systems reaches a warm loop within the secrets' cache age and a
        # tick: until then a timer extended on the systems that gated it before is owed to theirs.
        for when, moved, _before, _after in self.fleet.moves:
            if moved == account and when <= now < when + SECRET_MAX_AGE_S * 1000 + self.timing.tick_ms:
                beat = max(beat or 0, self.last_beat(now, account, gated_at=when - 1) or 0) or None
        # A disarm leaves the timer deferred to its end + S + T + G: as if the last beat came then.
        anchor = max([beat or 0, *(end for end in self.disarm_ends() if end <= now)])
        if anchor and timer <= anchor + self.bounds.longest_ms:
            return False
        lookback = now - self.bounds.longest_ms - 60_000
        if any(lookback <= self.disarm_starts(c) <= now for c in self.fleet.controls if c.action == "disarm"):
            return False  # Gemini heartbeats through a disarm (planned or not), whatever the trader does
        if any(x.gave_up and x.at_ms >= lookback for x in self.fleet.network.log):
            return False  # a straggler nobody can fence (Kraken, Gemini): the watchdog covers it
        if self._soonest(timer):
            return False
        # Kraken's relative timer can land late and is read back and corrected within one round
        # trip: an overshoot counts once it outlives that.
        since = self.overshoot_since.setdefault(account, now)
        if now - since > TRANSIT_MS:
            late = "none" if beat is None else f"{(now - beat) / 1000:.1f}s ago"
            self.p1_candidates.append(
                (
                    now,
                    f"{account}: venue timer at +{(timer - now) / 1000:.1f}s, last true beat {late}, "
                    f"native bound {self.bounds.native_text()}",
                )
            )
        return True

    def _soonest(self, timer: int) -> bool:
        """The timer was set to fire as soon as the venue allows (Hyperliquid: 5 s lead + the 2 s
        margin after its request landed): a backstop for cancels the venue refused, never an extension."""
        return self.fleet.sim.set_at_soonest(timer, MIN_LEAD_MARGIN_MS)

    def sweep_inside(self, accounts: set[str], opened: int, stop: int) -> tuple[int, str, str] | None:
        """The first order of `accounts` a sweep cancelled after a disarm took hold at `opened` and
        before `stop`, judged by when the sweep landed (the books are sampled every CHECK_EVERY_MS),
        unless a fault the fleet cannot ride out was near and the alarm went off."""
        for at, account, oid, cause in self.cancels:
            if cause != "sweep" or account not in accounts or not (opened < at < stop):
                continue
            sweeps = [
                x
                for x in self.fleet.network.log
                if x.who == "refresher"
                and at - CHECK_EVERY_MS < x.at_ms <= at
                and self.fleet.sim.is_cancel(x.path, x.body)
            ]
            if sweeps and min(x.at_ms for x in sweeps) <= opened:
                continue
            excuses = self.faults_in(PLUMBING, opened - 60_000, at)
            if any(x.gave_up for x in sweeps):
                # A sweep sent before the disarm, held by the network past its client's patience (and
                # past the window the disarm outwaits): only a venue fault the fleet cannot ride out
                # does that, and then the alarm must go off (as for a venue timer's fire, P3).
                excuses += self.faults_in(VENUE_FAULTS, opened - 60_000, at)
            if any(f.severe(self.s.venue) for f in excuses) and self.alarm_between(at - 60_000, at + 120_000):
                continue
            return at, account, oid
        return None

    def all_faults(self) -> list[Fault]:
        """The scenario's faults, with each Lambda crash where it really happened, and each stretch
        in which the venue had a fleet key locked out (Kraken, after requests arrived out of order)."""
        faults = [self._until_back(f) for f in self.s.faults if f.kind != "lambda_crash"]
        faults += self._scheduler_mishaps()
        faults += [
            Fault("lambda_crash", at - START_MS - 1_000, self._replaced(at) - START_MS)
            for at in self.fleet.crashes
        ]
        faults += [
            Fault("nonce_lockout", a - START_MS, b - START_MS + CHECK_EVERY_MS) for a, b in self.lockouts
        ]
        return faults

    def _scheduler_mishaps(self) -> list[Fault]:
        """The Scheduler's missed and late events as the world had them (`minute_offsets`), also
        where a hazard recipe replaced the faults drawn first and so dropped the fault that set them:
        judged by what happened, not by the list."""
        cached: list[Fault] | None = self.__dict__.get("_mishaps")
        if cached is None:
            declared = {(f.kind, f.start_ms // 60_000) for f in self.s.faults}
            cached = []
            for minute, offset in enumerate(self.s.minute_offsets):
                kind = "sched_missed" if offset < 0 else "sched_late" if offset >= 60_000 else None
                if kind is not None and (kind, minute) not in declared:
                    start = minute * 60_000
                    cached.append(Fault(kind, start, start + max(offset, 60_000)))
            self.__dict__["_mishaps"] = cached
        return cached

    def _until_back(self, fault: Fault) -> Fault:
        """The refresher function gone lasts, for the venue, until a loop runs again: nothing of
        ours can start one but the Scheduler, so until its first event after the function is back,
        and one tick."""
        if fault.kind != "fleet_gone":
            return fault
        end = fault.end_ms + START_MS
        later = [i.started_ms for i in self.fleet.invocations if i.started_ms >= end]
        back = (min(later) if later else self.t(self.duration)) + self.timing.tick_ms
        return Fault(fault.kind, fault.start_ms, max(fault.end_ms, back - START_MS), fault.p)

    def _replaced(self, crashed_ms: int) -> int:
        """When a crashed loop's work is back in hand, at the latest: its lease lapses (one TTL after
        its last renewal) and the standby takes it at its next poll - or, with no standby left (it
        crashed too), the next Scheduler event's invocation does - and ticks once."""
        tick, ttl = self.timing.tick_ms, self.timing.lease_ttl_ms
        later = [i.started_ms for i in self.fleet.invocations if i.started_ms > crashed_ms]
        spare = crashed_ms + ttl + SPARE_POLL_MS
        by_event = max(min(later), crashed_ms + ttl) if later else self.t(self.duration)
        crashed_twice = sum(1 for at in self.fleet.crashes if crashed_ms - ttl <= at <= crashed_ms + ttl) > 1
        return (by_event if crashed_twice else min(spare, by_event)) + tick

    def disarm_ends(self) -> list[int]:
        """When each disarm asked for (now or planned) ends, answered or not."""
        return [self.disarm_end(c) for c in self.fleet.controls if c.action == "disarm"]

    def disarm_end(self, c: ControlCall) -> int:
        """When disarm `c` ends: its answer's end, or (no answer) the end it asked for."""
        until = getattr(c.result, "until_ms", None)
        if until is None:
            until = self.disarm_starts(c) + int(c.kwargs.get("for_seconds", 0)) * 1000
        return int(until)

    @staticmethod
    def disarm_starts(c: ControlCall) -> int:
        """When a disarm takes effect: now, or the start of the window it planned."""
        planned = c.kwargs.get("starts_at_ms")
        return max(c.started_ms, int(planned)) if planned is not None else c.started_ms

    def faults_in(self, kinds: set[str], t0: int, t1: int) -> list[Fault]:
        return [
            f
            for f in self.all_faults()
            if f.kind in kinds and f.start_ms + START_MS < t1 and f.end_ms + START_MS > t0
        ]
