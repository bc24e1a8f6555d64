"""One scenario run: the world, the fleet, the faults wired in, checked while it runs and after.

`run_scenario(seed)` builds one scenario from the seed alone, runs the real fleet over it in virtual
time at production timing, and checks the promises; the same seed gives the same run, byte for byte
(`Result.trace`)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from functools import partial
from typing import Any

from deadman.core.policy import SEND_WITHIN_MS, TRANSIT_MS, reaction_bounds
from deadman.venues import CAPABILITIES
from sandbox.sim.checks import SECOND_SYSTEM, Result
from sandbox.sim.dynamo import ANSWER_FAULTS, CallFault
from sandbox.sim.faults import Fault
from sandbox.sim.fleet import CONTROL, Fleet, Trader
from sandbox.sim.scenario import CHECK_EVERY_MS, PREVIOUS_PLAN, PRODUCTION, Scenario, Setting, make_scenario
from sandbox.sim.transport import ANSWER_MANGLES, Delivery
from sandbox.sim.verdicts import Verdicts
from sandbox.sim.world import START_MS, World

DDB_FAULTS = frozenset(
    {"ddb_throttle", "ddb_5xx", "ddb_timeout", "ddb_lost_answer", "ddb_slow", "ddb_outage", "ddb_bad_answer"}
)
ANSWERS = sorted(ANSWER_FAULTS)
# The venue faults switched on at a fault's start and off at its end, on venues that have them
# (refused cancels are taken in again at every check: `_refuse_cancels`).
SWITCHED = frozenset(
    {"venue_5xx", "venue_429", "venue_maintenance", "nonce_lockout", "volume_gate", "trigger_exhaustion"}
)
MANGLES = sorted(ANSWER_MANGLES)


class Run(Verdicts):
    """One scenario: the world, the fleet, the faults wired in, and the checker."""

    def __init__(self, scenario: Scenario, setting: Setting = PRODUCTION) -> None:
        self.s = scenario
        self.setting = setting
        self.timing = setting.timing
        self.duration = setting.duration_ms
        self.world = World()
        self.rng = random.Random(scenario.seed * 7919 + 1)
        edit = scenario.edit[0] if scenario.edit else ""
        # strat-b gates b from the start, or (a gating move) beats from the start and takes b over
        # when the operator moves it.
        gates_b = bool(scenario.second) and edit != "gating_moved"
        self.fleet = Fleet(
            self.world,
            scenario.venue,
            scenario.accounts,
            timing=setting.timing,
            run_ms=setting.run_ms,
            lambda_timeout_ms=setting.lambda_timeout_ms,
            nonce_mode=scenario.nonce_mode,
            kill_keys=scenario.kill_keys,
            gated=scenario.accounts[1:] if scenario.gated else [],
            systems={"b": [SECOND_SYSTEM]} if gates_b else None,
            hidden=["b"] if edit == "account_added" else [],
        )
        every = scenario.trader_every_ms if scenario.trader_every_ms != 5_000 else setting.trader_every_ms
        self.trader = Trader(
            self.fleet,
            skew_ms=scenario.skew_ms,
            every_ms=every,
            orders_every_ms=setting.orders_every_ms,
            accounts=["a"] if gates_b else None,
        )
        # system -> its trader (the main one, and strat-b where there is one); which gates an account
        # when is the secret's word (`Fleet.systems_of`).
        self.traders: dict[str, Trader] = {}
        if scenario.second:
            self.traders[SECOND_SYSTEM] = Trader(
                self.fleet,
                skew_ms=scenario.second_skew_ms,
                every_ms=setting.trader_every_ms,
                orders_every_ms=setting.orders_every_ms,
                system=SECOND_SYSTEM,
                accounts=["b"] if gates_b else [],
            )
        caps = CAPABILITIES[scenario.venue]
        self.bounds = reaction_bounds(self.timing, caps)
        self.result = Result(scenario)
        self.zombie_window = self.timing.grace_ms + SEND_WITHIN_MS + TRANSIT_MS
        self.books: dict[str, set[str]] = {}
        self.first_seen: dict[tuple[str, str], int] = {}  # (account, order) -> the first sample it rested in
        self.cancels: list[tuple[int, str, str, str]] = []  # (at, account, order, cause)
        self.fires_seen = 0
        self.empty_since: dict[str, int | None] = {}
        self.timeline: list[tuple[int, dict[str, int]]] = []
        self.p1_candidates: list[tuple[int, str]] = []
        self.lockouts: list[tuple[int, int]] = []  # [first seen, last seen] of each lockout
        self.overshoot_since: dict[str, int] = {}
        # (when, account -> the end of the off period it is in, None if it is in none)
        self.off_samples: list[tuple[int, dict[str, int | None]]] = []

    def active(self, kinds: Iterable[str], t: int | None = None) -> list[Fault]:
        now = self.world.now_ms if t is None else t
        wanted = set(kinds)
        return [f for f in self.s.faults if f.kind in wanted and f.active(now - START_MS)]

    def fired(self, kind: str) -> None:
        """A fault of this kind acted on the world (counted per kind: one that never does is a
        campaign bug)."""
        self.result.fired[kind] += 1

    def _dynamo_fault(self, op: str, table: str, who: str) -> CallFault | None:
        if who.startswith("trader"):
            return None  # the trader's own writes: its beats are the ground truth
        if table == CONTROL and op in ("GetItem", "Query") and self.active({"switch_reads"}):
            self.result.faults += 1
            self.fired("switch_reads")
            return CallFault(latency_ms=20, error="internal")
        for f in self.active(DDB_FAULTS):
            if f.kind == "ddb_outage":
                self.fired(f.kind)
                return CallFault(latency_ms=20, error="internal")
            if self.rng.random() >= f.p:
                continue
            self.result.faults += 1
            self.fired(f.kind)
            if f.kind == "ddb_slow":
                # Slow but answering, anywhere up to the lean client's 1 s + 2 s timeouts.
                return CallFault(latency_ms=self.rng.randrange(200, 2_950))
            if f.kind == "ddb_bad_answer":
                # Applied, and its answer empty, cut, damaged or about another item.
                return CallFault(latency_ms=self.rng.randrange(2, 40), answer=self.rng.choice(ANSWERS))
            error = {"ddb_throttle": "throttle", "ddb_5xx": "internal", "ddb_timeout": "timeout"}.get(
                f.kind, "lost_answer"
            )
            return CallFault(latency_ms=3_000 if error in ("timeout", "lost_answer") else 10, error=error)
        return CallFault(latency_ms=self.rng.randrange(2, 12))

    def _secrets_fault(self) -> tuple[int, bool]:
        for f in self.active({"secrets_outage", "secrets_slow"}):
            self.result.faults += 1
            self.fired(f.kind)
            # Slow but answering, anywhere up to the client's 2 s + 5 s timeouts.
            return (self.rng.randrange(500, 6_900), False) if f.kind == "secrets_slow" else (50, True)
        return (20, False)

    def _delivery(self, venue: str, path: str, who: str) -> Delivery:
        base = Delivery(up_ms=self.rng.randrange(5, 60), down_ms=self.rng.randrange(5, 60))
        if who == "refresher" and self.active({"refresher_slow"}):
            # The refresher's requests crawl (another path, another region), the kill's do not: an
            # extension can still be on its way when a kill has swept.
            self.result.faults += 1
            self.fired("refresher_slow")
            return Delivery(up_ms=self.rng.randrange(2_000, 4_000), down_ms=self.rng.randrange(50, 500))
        for f in self.active({"venue_latency", "venue_hang", "venue_late", "venue_bad_answer"}):
            if self.rng.random() >= f.p:
                continue
            self.result.faults += 1
            self.fired(f.kind)
            if f.kind == "venue_latency":
                # Slow but answering, anywhere up to the client's patience (connect + read).
                return Delivery(self.rng.randrange(100, 2_450), self.rng.randrange(100, 2_450))
            if f.kind == "venue_bad_answer":
                return Delivery(base.up_ms, base.down_ms, answer=self.rng.choice(MANGLES))
            if f.kind == "venue_hang":
                return Delivery(lost=True)
            return Delivery(up_ms=TRANSIT_MS + self.rng.randrange(500, 20_000), down_ms=50)
        return base

    def _toggle(self, fault: Fault, on: bool) -> None:
        # The venue's own faults, where it has them (`Simulator.set_fault` says whether it acted).
        acted = fault.kind in SWITCHED and self.fleet.sim.set_fault(
            fault.kind, on, until_ms=self.t(fault.end_ms)
        )
        if fault.kind == "key_rotation":
            acted = True
            if on:
                self.fleet.rotate_keys()
                if self.s.edit and self.s.edit[0] == "key_rotation":
                    self.trader.old_key_share = 0.5  # a zombie (or the trader) still on the old key too
            else:
                self.fleet.delete_old_keys()
        elif fault.kind == "fleet_gone" and on:
            acted = True
            self.fleet.go_away(self.t(fault.end_ms))
        elif fault.kind == "liveness_malformed":
            acted = True
            self.traders.get(SECOND_SYSTEM, self.trader).malformed = on
        elif fault.kind == "beat_lost" and on:
            acted = True
            self.trader.lose_next = True
        if acted and on:
            self.fired(fault.kind)

    def _remove_once_retired(self, account: str) -> None:
        row = self.switch_row(account) or {}
        if "N" in row.get("retired_at_ms", {}):
            self.fleet.remove_account(account)
        else:
            self.world.call_at(self.world.now_ms + 5_000, partial(self._remove_once_retired, account))

    def _edit(self, kind: str) -> None:
        """The operator edits the venue secret (h12)."""
        if kind == "gating_moved":
            # b moves to strat-b, which beats already; the system it left trades a alone from now.
            self.fleet.move_gating("b", [SECOND_SYSTEM])
            self.trader.accounts = ["a"]
            self.traders[SECOND_SYSTEM].accounts = ["b"]
        elif kind == "account_removed":
            self.fleet.remove_account("b")
        elif kind == "account_retired":
            # As the README says: retired first (the fleet switches its timer off), taken out once
            # `deadman status` shows the switch retired - not after a fixed wait, which a loop on a
            # secret cached up to a minute may never have seen.
            self.fleet.retire_account("b")
            self.world.call_at(self.world.now_ms + 5_000, partial(self._remove_once_retired, "b"))
            kind = "account_removed"
        elif kind == "account_added":
            self.fleet.add_account("b")
        else:
            return
        self.fired(kind)

    def _refuse_cancels(self) -> None:
        """While cancels are refused, the venue refuses those of every order resting now (taken in
        again at every check), where it has that fault."""
        if self.active({"cancel_refused"}) and self.fleet.sim.set_fault("cancel_refused", True):
            self.fired("cancel_refused")

    def _clear_refusals(self) -> None:
        self.fleet.sim.set_fault("cancel_refused", False)

    def setup(self) -> None:
        w, s, fleet = self.world, self.s, self.fleet
        fleet.dynamo_fault = self._dynamo_fault
        fleet.secrets_fault = self._secrets_fault
        fleet.network.delivery = self._delivery
        self.trader.start()
        for other in self.traders.values():
            other.start()
        if s.second and s.second[0] == "death":
            second = self.traders[SECOND_SYSTEM]
            w.call_at(self.t(s.second[1]), lambda: setattr(second, "beating", False))
        if s.trader in ("death", "zombie", "stopped"):
            w.call_at(self.t(s.trader_at_ms), self._death)
        elif s.trader in ("hang", "restart"):
            w.call_at(self.t(s.trader_at_ms), self._death)
            w.call_at(self.t(s.trader_at_ms + s.trader_for_ms), self._revive)
        elif s.trader == "flap":
            for i in range(4):
                at = s.trader_at_ms + i * (s.trader_for_ms + 10_000)
                w.call_at(self.t(at), self._death)
                w.call_at(self.t(at + s.trader_for_ms), self._revive)
        for fault in s.faults:
            w.call_at(self.t(fault.start_ms), partial(self._toggle, fault, True))
            w.call_at(self.t(fault.end_ms), partial(self._toggle, fault, False))
        if s.edit is not None:
            w.call_at(self.t(s.edit[1]), partial(self._edit, s.edit[0]))
        for fault in s.faults:
            if fault.kind.startswith("sched_"):
                self.fired(fault.kind)  # the scheduler's minutes were drawn with it (late, missed, twice)
            if fault.kind == "cancel_refused":
                w.call_at(self.t(fault.end_ms), self._clear_refusals)
        for at, action, kwargs in s.controls:
            w.call_at(self.t(at), partial(self._control, action, kwargs))
        invocations = 0
        crash_points = ([s.crash] if s.crash else []) + list(s.crashes)
        for minute, offset in enumerate(s.minute_offsets):
            scheduled = self.t(minute * self.setting.minute_ms)
            if offset < 0:
                continue
            copies = 2 if minute in s.duplicates else 1
            for c in range(copies):
                crash_at = next((y for n, y in crash_points if n == invocations), None)
                invocations += 1
                w.call_at(scheduled + offset + c * 1_500, partial(self._invoke, scheduled, crash_at))
        w.call_at(self.t(0), self._check)

    def _control(self, action: str, kwargs: dict[str, Any]) -> None:
        kwargs = dict(kwargs)
        if "starts_in_ms" in kwargs:
            kwargs["starts_at_ms"] = self.world.now_ms + kwargs.pop("starts_in_ms")
        planned = [getattr(c.result, "plan_id", None) for c in self.fleet.controls if c.action == "disarm"]
        previous = next((p for p in reversed(planned) if p), "p-00000000")  # none answered: an unknown id
        if kwargs.get("replaces") == PREVIOUS_PLAN:
            kwargs["replaces"] = previous
        if kwargs.get("cancel_plans") == [PREVIOUS_PLAN]:
            kwargs["cancel_plans"] = [previous]
        self.fleet.control(action, **kwargs)

    def _invoke(self, scheduled: int, crash_at: int | None) -> None:
        # Lambda drops nothing by itself; the handler drops events too late (entry.py).
        self.fleet.invoke(scheduled, crash_at_yield=crash_at)

    def _death(self) -> None:
        self.trader.beating = False
        self.trader.zombie = self.s.trader == "zombie"
        if self.s.trader in ("stopped", "restart"):
            self.trader.stop_running()

    def _revive(self) -> None:
        self.trader.beating = True
        self.trader.zombie = False

    def _check(self) -> None:
        now = self.world.now_ms
        self._refuse_cancels()
        self.result.checks += 1
        books = self.fleet.resting()
        fires = self.fleet.fires()
        cause = "venue-timer" if fires > self.fires_seen else "sweep"
        self.fires_seen = fires
        kills = self.control_windows("kill")
        for account, orders in books.items():
            before = self.books.get(account, set())
            for oid in orders - before:
                self.first_seen.setdefault((account, oid), now)
            gone = before - orders
            for oid in sorted(gone):
                by_kill = any(a <= now <= b + 1_000 for a, b in kills)
                self.cancels.append((now, account, oid, "kill" if by_kill and cause == "sweep" else cause))
            self.books[account] = set(orders)
            self._check_timer(account, now)
            self._check_record(account, now)
        self.timeline.append((now, {a: len(o) for a, o in books.items()}))
        self.off_samples.append((now, {a: self.off_until(a, now) for a in self.s.accounts}))
        if self.fleet.sim.locked_out():
            if self.lockouts and self.lockouts[-1][1] >= now - CHECK_EVERY_MS:
                self.lockouts[-1] = (self.lockouts[-1][0], now)
            else:
                self.lockouts.append((now, now))
        if now < self.t(self.duration):
            self.world.call_at(now + CHECK_EVERY_MS, self._check)

    def run(self) -> Result:
        self.setup()
        try:
            self.world.run_until(self.t(self.duration))
        finally:
            self.world.shutdown()
        self.result.fired.update({"lambda_crash": len(self.fleet.crashes)} if self.fleet.crashes else {})
        self.evaluate()
        r = self.result
        r.trace = [self.s.describe()]
        r.trace += [
            f"{self.rel(i.started_ms):7.1f}s invocation {i.n}: {i.outcome}" for i in self.fleet.invocations
        ]
        r.trace += [
            f"{self.rel(c.started_ms):7.1f}s {c.action}: {c.error or getattr(c.result, 'message', '')}"
            for c in self.fleet.controls
        ]
        r.trace += [
            f"{self.rel(at):7.1f}s {a} order {o} cancelled by {cause}"
            for at, a, o, cause in self.cancels[:40]
        ]
        return r


def run_scenario(seed: int, hazard_share: float = 0.35, venue: str | None = None) -> Result:
    return Run(make_scenario(seed, hazard_share=hazard_share, venue=venue)).run()
