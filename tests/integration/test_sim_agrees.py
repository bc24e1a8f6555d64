"""The virtual-time simulation agrees with the real-time sandbox.

Each story runs twice at the sandbox's compressed timing (`SandboxTiming`: S=4 s, T=1 s, G=2 s,
K=1 s, a 6 s scheduler "minute", RUN_SECONDS=10, a 14 s Lambda timeout):

- in virtual time, in process (`sandbox.sim.run.Run` with a hand-built `Scenario`);
- in real time through the sandbox (`Stack`: moto server, the venue simulators over HTTP, the real
  refresher handlers driven by `SchedulerDriver`, the toy trader's beats in DynamoDB, and the
  operator's calls through `LocalApi` over HTTP).

Both runs are reduced to the same record (orders placed, when each was seen gone, the last beat,
when each extension reached the venue, the control calls and their answers) and checked with the
same code: both keep the promises the story exercises, and the reaction times they measure agree.
Run with `-s` to see the figures of both sides.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import requests

from deadman.core.policy import SEND_WITHIN_MS, TRANSIT_MS, ReactionBounds, Timing, reaction_bounds
from deadman.venues import CAPABILITIES
from sandbox.local_api import LocalApi
from sandbox.sim.checks import Result
from sandbox.sim.run import Run
from sandbox.sim.scenario import CHECK_EVERY_MS, Scenario, Setting
from sandbox.sim.world import START_MS
from sandbox.stack import SandboxTiming, Stack
from sandbox.trader import ToyTrader
from sandbox.venues.common import Response
from sandbox.venues.registry import SIMULATORS

pytestmark = pytest.mark.integration

SANDBOX = SandboxTiming()
TIMING = Timing(
    max_staleness_ms=int(SANDBOX.max_staleness_s * 1000),
    tick_ms=int(SANDBOX.tick_s * 1000),
    grace_ms=int(SANDBOX.grace_s * 1000),
    skew_ms=int(SANDBOX.skew_s * 1000),
)
BEAT_EVERY_S = 0.5  # ToyTrader.start_beating(0.5), as test_fleet and the demo beat
ORDERS_EVERY_MS = 3_000  # the trader rests one order per account this often (both sides)
SETTING = Setting(
    timing=TIMING,
    minute_ms=int(SANDBOX.minute_s * 1000),
    run_ms=int(SANDBOX.run_s * 1000),
    lambda_timeout_ms=int(SANDBOX.lambda_timeout_s * 1000),
    # The campaign's checker judges a reaction only if its bound (15 s) ends before the run does:
    # the disarm ends at 14 s.
    duration_ms=36_000,
    trader_every_ms=int(BEAT_EVERY_S * 1000),
    orders_every_ms=ORDERS_EVERY_MS,
)
# Where each scheduler "minute"'s event lands: the first at once (as SchedulerDriver's after a
# deploy), the next ones 0.3-1.0 minute apart, as SchedulerDriver spaces them in real time.
MINUTE_OFFSETS = [0, 1_500, 3_000, 600, 2_400, 1_200, 300]
# The two runs detect the same event (a stale row, a kill, a disarm's end) on ticks T apart that land
# at different phases of the tick cycle in each run (virtual ticks start where the scenario's minute
# offsets put them, real ones where the real scheduler and a loaded machine put them), so the same
# reaction can differ by up to one tick; the extra second absorbs real-time overheads (moto and
# HTTP round trips on a loaded machine, the 250 ms sampling of the virtual checker, the 50 ms polling
# of the real books).
TOLERANCE_MS = TIMING.tick_ms + 1_000
# How long an order rested after a sweep may live: one tick gap (the grace G covers the longest gap
# between two ticks, one tick plus one handover), plus the sweep decision's send window and its
# transit: the allowance the campaign's checker gives a zombie's order.
ONE_TICK_GAP_MS = TIMING.grace_ms + SEND_WITHIN_MS + TRANSIT_MS
POLL_S = 0.05


def bounds(venue: str) -> ReactionBounds:
    return reaction_bounds(TIMING, CAPABILITIES[venue])


# -- the stories ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Story:
    name: str
    venue: str
    account: str  # the sandbox account the trader rests orders on (the virtual fleet has one account)
    trader: str  # healthy | death | zombie | stopped (Scenario.trader)
    trader_at_ms: int = 0
    controls: tuple[tuple[int, str, dict[str, Any]], ...] = ()
    real_ms: int = 20_000  # how long the real run plays the story before it settles
    nonce_mode: str = "time"

    def scenario(self) -> Scenario:
        return Scenario(
            seed=7,
            venue=self.venue,
            accounts=["a"],
            trader=self.trader,
            trader_at_ms=self.trader_at_ms,
            trader_for_ms=0,
            skew_ms=0,
            nonce_mode=self.nonce_mode,
            kill_keys=False,  # the sandbox's secrets name no kill keys
            faults=[],
            controls=list(self.controls),
            minute_offsets=MINUTE_OFFSETS,
            duplicates=[],
            crash=None,
        )


KRAKEN_DEATH = Story("kraken death", "kraken", "main", "death", trader_at_ms=8_000, real_ms=9_000)
GEMINI_ZOMBIE = Story("gemini zombie", "gemini", "timed", "zombie", trader_at_ms=8_000, real_ms=20_000)
HL_KILL = Story(
    "hyperliquid kill",
    "hyperliquid",
    "main",
    "healthy",
    controls=((8_000, "kill", {"reason": "agree: kill"}), (20_000, "arm", {"reason": "agree: arm"})),
    real_ms=26_000,
)
KRAKEN_DISARM = Story(
    "kraken disarm",
    "kraken",
    "main",
    "stopped",
    trader_at_ms=10_000,
    controls=((8_000, "disarm", {"reason": "agree: planned restart", "for_seconds": 6}),),
    real_ms=11_000,
)
# The sandbox account the story runs on has the nonce mode the virtual fleet's keys have.
assert GEMINI_ZOMBIE.nonce_mode in {
    s.nonce_mode for s in SIMULATORS["gemini"].SANDBOX_ACCOUNTS if s.account == GEMINI_ZOMBIE.account
}


# -- one record for both sides ----------------------------------------------------------------------


@dataclass
class Call:
    started_ms: int
    answered_ms: int
    checked_ms: int  # when the book was next looked at after the answer
    body: dict[str, Any]


@dataclass
class Record:
    """What one run did, in ms from its own start (virtual: START_MS; real: the story's start)."""

    side: str
    origin: int  # the absolute time (virtual or epoch ms) the record counts from
    placed: list[tuple[int, str]] = field(default_factory=list)  # (at, order id)
    gone: dict[str, int] = field(default_factory=dict)  # order id -> first seen gone
    last_beat_ms: int | None = None  # the last "running" beat
    extensions: list[int] = field(default_factory=list)  # refresher extensions reaching the venue
    calls: dict[str, Call] = field(default_factory=dict)  # control action -> its call
    end_ms: int = 0

    def orders(self, t0: float, t1: float) -> list[tuple[int, str]]:
        return [(at, oid) for at, oid in self.placed if t0 <= at < t1]

    def cleared(self, orders: list[tuple[int, str]]) -> int | None:
        """When the last of these orders was seen gone (None: one still rests)."""
        times = [self.gone.get(oid) for _, oid in orders]
        if any(t is None for t in times):
            return None
        return max((t for t in times if t is not None), default=None)

    def lifetimes(self, t0: float, t1: float, since: int = 0) -> list[int | None]:
        """For each order placed in [t0, t1): how long it rested from max(placed, since)."""
        out: list[int | None] = []
        for at, oid in self.orders(t0, t1):
            gone = self.gone.get(oid)
            out.append(None if gone is None else gone - max(at, since))
        return out

    def false_fires(self, alive: Callable[[int], bool]) -> list[str]:
        """Orders seen gone at a time the story says nothing may cancel them."""
        return [f"{oid} gone at {t / 1000:.2f}s" for oid, t in self.gone.items() if alive(t)]


def virtual(story: Story) -> tuple[Result, Record]:
    run = Run(story.scenario(), SETTING)
    result = run.run()
    rec = Record("virtual", START_MS, end_ms=SETTING.duration_ms)
    rec.placed = [(at - START_MS, oid) for at, _account, oid in run.trader.placed]
    for at, _account, oid, _cause in run.cancels:
        rec.gone.setdefault(oid, at - START_MS)
    running = [b.at_ms - START_MS for b in run.trader.beats if b.state == "running"]
    rec.last_beat_ms = max(running) if story.trader != "healthy" else None
    rec.extensions = [
        x.at_ms - START_MS
        for x in run.fleet.network.log
        if x.who == "refresher" and not x.gave_up and run.fleet.sim.is_extension(x.path, x.body)
    ]
    for c in run.fleet.controls:
        assert c.ended_ms is not None and c.error is None, (c.action, c.error)
        answered = c.ended_ms - START_MS
        # The checker looks at the book every CHECK_EVERY_MS of virtual time.
        checked = answered + CHECK_EVERY_MS
        rec.calls[c.action] = Call(
            c.started_ms - START_MS, answered, checked, c.result.model_dump(mode="json")
        )
    return result, rec


# -- the real side ----------------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


class RealRun:
    """Plays a story on a running Stack: beats through the ToyTrader, rests one order per period
    straight into the simulator's book as the virtual trader does (a Gemini order placed so does not
    restart the key's heartbeat clock, in either run), polls the book every 50 ms, and logs every
    refresher extension that reaches the venue. Times in the record are ms from the story's start."""

    def __init__(self, stack: Stack, api: LocalApi, story: Story, monkeypatch: pytest.MonkeyPatch) -> None:
        self.stack, self.api, self.story = stack, api, story
        self.trader = ToyTrader(stack)
        self.t0 = now_ms()
        self.rec = Record("real", self.t0)
        self.beating = True
        self.zombie = False
        self.played_ms = story.real_ms
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        sim = stack.sims[story.venue]
        original = sim.dispatch

        def dispatch(method: str, path: str, headers: Any, body: bytes) -> Response:
            if sim.is_extension(path, body):
                with self.lock:
                    self.rec.extensions.append(self.rel())
            return original(method, path, headers, body)

        # The controls' calls are never extensions; the trader places straight into the book.
        monkeypatch.setattr(sim, "dispatch", dispatch)

    def rel(self, at: int | None = None) -> int:
        return (now_ms() if at is None else at) - self.t0

    # -- the venue -------------------------------------------------------------------------------
    def place(self) -> str:
        return self.stack.sims[self.story.venue].rest_order(self.story.account, price="30000", size="0.01")

    def resting(self) -> set[str]:
        return self.stack.sims[self.story.venue].order_ids(self.story.account)

    def sample(self) -> set[str]:
        with self.lock:
            known = [oid for _, oid in self.rec.placed if oid not in self.rec.gone]
        books = self.resting()  # read after the snapshot: every order in it was placed before
        at = self.rel()
        with self.lock:
            for oid in known:
                if oid not in books:
                    self.rec.gone.setdefault(oid, at)
        return books

    def _orders(self) -> None:
        while True:
            if self.beating or self.zombie:
                oid = self.place()
                with self.lock:
                    self.rec.placed.append((self.rel(), oid))
            if self.stopping.wait(ORDERS_EVERY_MS / 1000):
                return

    def _poll(self) -> None:
        while not self.stopping.wait(POLL_S):
            self.sample()

    # -- the story -------------------------------------------------------------------------------
    def at(self, ms: int) -> None:
        time.sleep(max(0.0, (self.t0 + ms - now_ms()) / 1000))

    def control(self, action: str, body: dict[str, Any]) -> None:
        started = self.rel()
        resp = requests.post(self.api.url + "/" + action, json=body, timeout=40)
        answered = self.rel()
        self.sample()  # the book right after the answer
        checked = self.rel()
        assert resp.status_code == 200, (action, resp.status_code, resp.text)
        self.rec.calls[action] = Call(started, answered, checked, resp.json())

    def death(self) -> None:
        self.beating = False
        self.zombie = self.story.trader == "zombie"
        self.rec.last_beat_ms = self.rel(self.trader.die())
        if self.story.trader == "stopped":
            self.trader.writer.stop_running()

    def play(self) -> Record:
        """The story until `real_ms`; the caller then settles what it waits for."""
        self.t0 = self.rec.origin = now_ms()
        self.trader.start_beating(BEAT_EVERY_S)
        for target in (self._orders, self._poll):
            thread = threading.Thread(target=target, name=f"agree-{target.__name__}", daemon=True)
            thread.start()
            self.threads.append(thread)
        self.stack.start_scheduler()
        events: list[tuple[int, Callable[[], None]]] = []
        if self.story.trader != "healthy":
            events.append((self.story.trader_at_ms, self.death))
        for at, action, kwargs in self.story.controls:
            events.append((at, partial(self.control, action, kwargs)))
        shift = 0
        for at, act in sorted(events, key=lambda e: e[0]):
            self.at(at + shift)
            planned = self.rel()
            act()
            # A kill or a disarm outwaits a refresher extension in flight at its write (up to
            # SEND_WITHIN + TRANSIT, ~11 s): play the rest of the story that much later, so that every
            # stretch of it still lasts as long as planned (the virtual calls answer within 0.5 s).
            shift += max(0, self.rel() - planned - 1_000)
        self.played_ms = self.story.real_ms + shift
        self.at(self.played_ms)
        self.beating = self.zombie = False  # the story is over: no more orders
        return self.rec

    def settle(self, done: Callable[[], bool], deadline_ms: int) -> None:
        while self.rel() < deadline_ms and not done():
            time.sleep(POLL_S)
        self.sample()
        self.rec.end_ms = self.rel()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(10)
        self.trader.writer.stop()


@pytest.fixture
def real(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Story], RealRun]]:
    """Starts one Stack (its own moto server and simulators on free loopback ports) with only the
    story's venue, the local API in front of it, and a RealRun; stops what it started."""
    started: list[tuple[Stack, LocalApi, RealRun]] = []

    def start(story: Story) -> RealRun:
        stack = Stack(SANDBOX, venues=(story.venue,))
        try:
            stack.start()
            api = LocalApi(stack.env).start()
        except BaseException:
            stack.stop()
            raise
        run = RealRun(stack, api, story, monkeypatch)
        started.append((stack, api, run))
        return run

    yield start
    for stack, api, run in started:
        run.stop()
        api.stop()
        stack.stop()


def show(story: Story, what: str, v: int | None, r: int | None, bound_ms: int | None = None) -> None:
    def s(x: int | None) -> str:
        return "never" if x is None else f"{x / 1000:.2f}s"

    limit = "" if bound_ms is None else f" (bound {bound_ms / 1000:g}s)"
    print(f"\n[{story.name}] {what}: virtual {s(v)}, real {s(r)}{limit}")


def agree(story: Story, what: str, v: int | None, r: int | None, bound_ms: int) -> None:
    show(story, what, v, r, bound_ms)
    assert v is not None and v <= bound_ms, (story.name, what, "virtual", v)
    assert r is not None and r <= bound_ms, (story.name, what, "real", r)
    assert abs(v - r) <= TOLERANCE_MS, (story.name, what, v, r)


# -- (a) Kraken: the trader dies ---------------------------------------------------------------------


def death_checks(rec: Record) -> int | None:
    """Promise 3 while it beat, promise 2 after: returns last beat -> every order gone."""
    assert rec.last_beat_ms is not None
    last = rec.last_beat_ms
    # While the trader proved life (beats at most S - K apart), nothing was cancelled.
    alive_until = last + TIMING.max_staleness_ms - TIMING.skew_ms
    assert rec.false_fires(lambda t: t < alive_until) == [], rec.side
    before = rec.orders(0, last + 1)
    assert before, rec.side
    cleared = rec.cleared(before)
    return None if cleared is None else cleared - last


def test_kraken_death_agrees(real: Callable[[Story], RealRun]) -> None:
    story, bound = KRAKEN_DEATH, bounds("kraken")
    result, vrec = virtual(story)
    assert result.violations == [], [v.line() for v in result.violations]
    v_reaction = death_checks(vrec)
    assert result.reactions == [v_reaction], (result.reactions, v_reaction)

    run = real(story)
    rec = run.play()
    assert rec.last_beat_ms is not None
    run.settle(lambda: not run.sample(), rec.last_beat_ms + bound.watchdog_ms + 1_000)
    r_reaction = death_checks(rec)
    # No venue timer pushed past the last beat's native bound after the death.
    trigger = run.stack.sims[story.venue].timer_at(story.account)
    assert trigger is None or run.rel(trigger) <= rec.last_beat_ms + bound.native_ms
    agree(story, "last beat -> book empty", v_reaction, r_reaction, bound.watchdog_ms)


# -- (b) Gemini, time nonces: a zombie dies and keeps resting orders ----------------------------------


def zombie_checks(rec: Record) -> tuple[int | None, int | None]:
    """Returns (last beat -> every order rested before it gone, the longest a zombie's order rested
    after that first sweep); each zombie order is gone within one tick gap."""
    reaction = death_checks(rec)
    assert rec.last_beat_ms is not None and reaction is not None, rec.side
    swept = rec.last_beat_ms + reaction
    # Orders the zombie rests after the first sweep (and early enough to be judged before the end).
    lives = rec.lifetimes(swept + 1, rec.end_ms - ONE_TICK_GAP_MS)
    assert len(lives) >= 2, (rec.side, lives)
    assert all(x is not None and x <= ONE_TICK_GAP_MS for x in lives), (rec.side, lives)
    return reaction, max(x for x in lives if x is not None)


def test_gemini_zombie_agrees(real: Callable[[Story], RealRun]) -> None:
    story, bound = GEMINI_ZOMBIE, bounds("gemini")
    result, vrec = virtual(story)
    assert result.violations == [], [v.line() for v in result.violations]
    v_reaction, v_zombie = zombie_checks(vrec)

    run = real(story)
    rec = run.play()
    # The zombie stopped resting at real_ms: settle until its last order is swept too.
    run.settle(lambda: not run.sample(), run.played_ms + ONE_TICK_GAP_MS)
    rec.end_ms = max(rec.end_ms, run.played_ms + ONE_TICK_GAP_MS)  # every order was given its gap
    r_reaction, r_zombie = zombie_checks(rec)
    agree(story, "last beat -> orders rested before it gone", v_reaction, r_reaction, bound.watchdog_ms)
    agree(story, "longest life of a zombie's order after the sweep", v_zombie, r_zombie, ONE_TICK_GAP_MS)


# -- (c) Hyperliquid: an operator kills while the trader is alive, then arms ---------------------------


def kill_checks(rec: Record) -> tuple[int, int]:
    """Promise 4 and arm: returns (the longest an order rested after the kill answered, from its
    placing or the answer; the first extension after the arm, from the arm call)."""
    kill, arm = rec.calls["kill"], rec.calls["arm"]
    assert kill.body["ok"] and all(s["latched"] and s["swept"] for s in kill.body["switches"]), kill.body
    assert arm.body["ok"], arm.body
    # No order was cancelled while the trader beat and nobody had killed.
    assert rec.false_fires(lambda t: t < kill.started_ms) == [], rec.side
    # Every order rested before the kill is gone when the kill answers.
    cleared = rec.cleared(rec.orders(0, kill.started_ms))
    assert cleared is not None and cleared <= kill.checked_ms, (rec.side, cleared, kill)
    # Nothing extended after the kill answered, until the operator armed again.
    assert [x for x in rec.extensions if kill.answered_ms < x < arm.started_ms] == [], rec.side
    # Orders the live trader rests after the kill answered are swept within one tick gap.
    lives = rec.lifetimes(kill.answered_ms, arm.started_ms, since=kill.answered_ms)
    assert len(lives) >= 2, (rec.side, lives)
    assert all(x is not None and x <= ONE_TICK_GAP_MS for x in lives), (rec.side, lives)
    # After arm the switch extends again and new orders rest untouched.
    rearmed = min((x for x in rec.extensions if x > arm.started_ms), default=None)
    assert rearmed is not None, rec.side
    after = rec.orders(rearmed, rec.end_ms)
    assert after and all(oid not in rec.gone for _, oid in after), (rec.side, after, rec.gone)
    return max(x for x in lives if x is not None), rearmed - arm.started_ms


def test_hyperliquid_kill_then_arm_agrees(real: Callable[[Story], RealRun]) -> None:
    story = HL_KILL
    result, vrec = virtual(story)
    assert result.violations == [], [v.line() for v in result.violations]
    v_life, v_rearm = kill_checks(vrec)

    run = real(story)
    rec = run.play()
    run.settle(lambda: False, run.played_ms)
    r_life, r_rearm = kill_checks(rec)
    kill = rec.calls["kill"]
    vkill = vrec.calls["kill"]
    show(story, "kill answered in", vkill.answered_ms - vkill.started_ms, kill.answered_ms - kill.started_ms)
    agree(story, "longest life of an order rested after the kill", v_life, r_life, ONE_TICK_GAP_MS)
    # The arm's next tick extends (the trader is alive): within one tick gap of the arm.
    agree(story, "arm -> first extension", v_rearm, r_rearm, ONE_TICK_GAP_MS)


# -- (d) Kraken: a disarm during which the trader stops, ending by itself ------------------------------


def disarm_checks(rec: Record) -> tuple[int | None, int | None]:
    """Promise 5: nothing swept while disarmed, every book empty within the watchdog bound of its
    end. Returns (the disarm's end -> every order gone, the last beat -> every order gone)."""
    disarm = rec.calls["disarm"]
    assert disarm.body["ok"], disarm.body
    assert [s["venue_timer"] for s in disarm.body["switches"]] == ["deferred"], disarm.body
    until = disarm.body["until_ms"] - rec.origin
    assert rec.false_fires(lambda t: t < until) == [], rec.side
    assert rec.last_beat_ms is not None and rec.last_beat_ms < until
    cleared = rec.cleared(rec.orders(0, rec.end_ms))
    if cleared is None:
        return None, None
    return cleared - until, cleared - rec.last_beat_ms


def test_kraken_disarm_then_stop_agrees(real: Callable[[Story], RealRun]) -> None:
    story, bound = KRAKEN_DISARM, bounds("kraken")
    result, vrec = virtual(story)
    assert result.violations == [], [v.line() for v in result.violations]
    v_after, v_since_beat = disarm_checks(vrec)
    # An operator touched this death (the disarm): the campaign leaves it out of its reaction figures.
    assert result.reactions == [], result.reactions
    assert v_since_beat is not None

    run = real(story)
    rec = run.play()
    until = rec.calls["disarm"].body["until_ms"] - rec.origin
    run.settle(lambda: not run.sample(), until + bound.watchdog_ms + 1_000)
    r_after, r_since_beat = disarm_checks(rec)
    # The campaign's own figure counts from the last beat (the trader stopped 4 s into the disarm).
    show(story, "last beat -> book empty", v_since_beat, r_since_beat)
    agree(story, "disarm end -> book empty", v_after, r_after, bound.watchdog_ms)
