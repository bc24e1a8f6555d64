"""`make demo`: the whole story on one machine, with a timeline, checked against the promises
(docs/design.md section 1).

A toy trader beats and rests orders on every venue's simulator the sandbox runs (`sandbox_venues`); the
real refresher handlers, driven by a scheduler stand-in, extend every switch; the trader dies and
each venue's book must be empty within its stated bound; the trader comes back and the switches
re-extend (a venue timer that fired, such as Kraken's, re-armed); an account under a venue's volume
gate (Hyperliquid's) is protected by the watchdog alone; an operator kills through the CLI and the
local API (the latch holds while the trader still beats), arms again, then disarms for a planned
restart that ends by itself. Exits 1 if any promise was broken.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from deadman.core.policy import Timing, reaction_bounds
from deadman.venues import CAPABILITIES
from sandbox.local_api import LocalApi
from sandbox.stack import SandboxTiming, Stack
from sandbox.trader import ToyTrader

HEALTHY_S = 8.0


class Timeline:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.broken: list[str] = []

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {text}", flush=True)

    def check(self, ok: bool, promise: str, detail: str) -> None:
        self.say(f"  {'ok ' if ok else 'BROKEN'} {promise}: {detail}")
        if not ok:
            self.broken.append(f"{promise}: {detail}")


def timing_of(sandbox: SandboxTiming) -> Timing:
    return Timing(
        max_staleness_ms=int(sandbox.max_staleness_s * 1000),
        tick_ms=int(sandbox.tick_s * 1000),
        grace_ms=int(sandbox.grace_s * 1000),
        skew_ms=int(sandbox.skew_s * 1000),
    )


def wait_each(
    stack: Stack, keys: list[tuple[str, str]], done: Callable[[tuple[str, str]], bool], timeout_s: float
) -> dict[tuple[str, str], float | None]:
    """Poll every 20 ms; the moment each key's condition first holds (monotonic), or None."""
    seen: dict[tuple[str, str], float | None] = dict.fromkeys(keys)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(v is None for v in seen.values()):
        for key in keys:
            if seen[key] is None and done(key):
                seen[key] = time.monotonic()
        time.sleep(0.02)
    return seen


class Story:
    """The demo's phases; each prints its part of the timeline and checks its promises."""

    def __init__(self, stack: Stack, line: Timeline) -> None:
        self.stack = stack
        self.line = line
        self.sandbox = stack.timing
        self.timing = timing_of(stack.timing)
        self.bounds = {v: reaction_bounds(self.timing, CAPABILITIES[v]) for v in stack.venues}
        self.keys = list(stack.books())
        # Accounts under their venue's volume gate for good: no native timer, the watchdog alone.
        self.gated = [
            (venue, spec.account)
            for venue in stack.venues
            for spec in stack.sims[venue].SANDBOX_ACCOUNTS
            if spec.below_gate
        ]
        self.trader = ToyTrader(stack)
        self.api_url = ""

    def setup(self) -> None:
        stack, line, sb = self.stack, self.line, self.sandbox
        sims = ", ".join(f"{v} {s.url}" for v, s in stack.sims.items())
        line.say(f"sandbox up: moto {stack.env['AWS_ENDPOINT_URL']}, {sims}")
        line.say(
            f"timing: S={sb.max_staleness_s:g}s T={sb.tick_s:g}s G={sb.grace_s:g}s K={sb.skew_s:g}s, "
            f"scheduler minute={sb.minute_s:g}s, run={sb.run_s:g}s"
        )
        for venue, b in self.bounds.items():
            line.say(f"  bound {venue:<11} watchdog {b.watchdog_ms / 1000:4.1f}s  native {b.native_text()}")
        for venue, account in self.gated:
            line.say(f"{venue}/{account} trades below the venue's volume gate: no native timer")
        self.trader.start_beating(0.5)
        self.trader.rest_orders(2)
        line.say(f"trader beating every 0.5 s; resting orders: {fmt_books(stack.books())}")
        stack.start_scheduler()
        line.say("scheduler started: one refresher schedule per venue")
        armed = wait_each(stack, self.keys, lambda k: stack.switch(*k).last_tick_ms is not None, 10)
        beat = self.trader.stored_beat()
        for venue, account in self.keys:
            sw = stack.switch(venue, account)
            if sw.deadline_ms is not None:
                line.say(
                    f"  {venue}/{account}: venue timer at last beat + {(sw.deadline_ms - beat) / 1000:.1f}s"
                )
            else:
                why = sw.native_reason or "the venue has none a stateless fleet can hold"
                line.say(f"  {venue}/{account}: no native timer ({why}); watchdog only")
        line.check(all(v is not None for v in armed.values()), "fleet running", "every switch ticked")

    def healthy(self) -> None:
        before, fires_before = self.stack.books(), venue_timer_fires(self.stack)
        time.sleep(HEALTHY_S)
        after, fires_after = self.stack.books(), venue_timer_fires(self.stack)
        self.line.check(
            after == before and fires_after == fires_before,
            "promise 3 (no false fire)",
            f"{HEALTHY_S:g}s healthy: books {fmt_books(after)}, "
            f"venue timer fires {fires_after - fires_before}",
        )

    def death(self) -> None:
        stack, line = self.stack, self.line
        fires_before = {venue: stack.sims[venue].timer_fires() for venue in stack.venues}
        last_beat = self.trader.die()
        died = time.monotonic() - (time.time() * 1000 - last_beat) / 1000
        line.say("trader DIES (stops beating; still connected to the venues)")
        time.sleep(1.0)
        for venue, account in self.keys:
            stack.sims[venue].rest_order(account, price="29000", size="0.01")
        line.say("zombie trader rests one more order on every account after its death")
        emptied = wait_each(stack, self.keys, lambda k: stack.books()[k] == 0, 30)
        for venue, account in self.keys:
            when, bound = emptied[(venue, account)], self.bounds[venue]
            took = None if when is None else when - died
            line.check(
                took is not None and took * 1000 <= bound.watchdog_ms,
                "promise 2 (bounded reaction)",
                f"{venue}/{account} empty {fmt_s(took)} after last beat "
                f"(watchdog bound {bound.watchdog_ms / 1000:g}s, native {bound.native_text()})",
            )
        self.zombie()
        for venue, account in self.gated:
            line.check(
                not stack.switch(venue, account).native_available and emptied[(venue, account)] is not None,
                "volume gate",
                f"{venue}/{account} has no native timer and was emptied by the watchdog alone",
            )
        time.sleep(self.sandbox.grace_s + self.sandbox.tick_s * 2)
        limit = last_beat + max(b.longest_ms for b in self.bounds.values())
        pushed = [f"{v}/{a}" for v, a in self.keys if (stack.switch(v, a).deadline_ms or 0) > limit]
        pushed += [f"{v}/{a} at the venue" for (v, a), at in stack.timers().items() if (at or 0) > limit]
        line.check(
            not pushed,
            "promise 1 (no false extension)",
            "no venue timer pushed past the last beat's bound after death"
            + (f": {', '.join(pushed)}" if pushed else ""),
        )
        for venue in stack.venues:
            fired = stack.sims[venue].fires[fires_before[venue] :]
            if fired:
                after = (fired[0][0] - last_beat) / 1000
                line.say(f"{venue}'s own timer fired {after:.1f}s after the last beat")

    def zombie(self) -> None:
        """An order a zombie rests after the first sweep lives at most one tick gap."""
        placed = time.monotonic()
        for venue, account in self.keys:
            self.stack.sims[venue].rest_order(account, price="31000", size="0.01")
        gone = wait_each(self.stack, self.keys, lambda k: self.stack.books()[k] == 0, 10)
        for key, when in gone.items():
            lived = None if when is None else when - placed
            self.line.check(
                lived is not None and lived <= self.sandbox.grace_s,
                "watchdog",
                f"a zombie order rested on {key[0]}/{key[1]} after the sweep lived {fmt_s(lived)} "
                "(<= one tick gap)",
            )

    def native(self) -> list[tuple[str, str]]:
        """The switches a venue timer protects now (not those under a volume gate, nor a venue with
        no timer)."""
        return [
            k for k in self.keys if CAPABILITIES[k[0]].has_timer and self.stack.switch(*k).native_available
        ]

    def recovery(self) -> None:
        stack, line = self.stack, self.line
        self.trader = ToyTrader(stack)
        self.trader.start_beating(0.5)
        line.say("trader BACK: beating again; waits until every switch has seen it alive")
        seen = wait_each(stack, self.keys, lambda k: stack.switch(*k).dead_since_ms is None, 10)
        line.check(all(v is not None for v in seen.values()), "recovery", "every switch recovered")
        self.trader.rest_orders(1)
        line.say("trader rests new orders")
        native = self.native()
        rearmed = wait_each(stack, native, lambda k: (stack.timers()[k] or 0) > time.time() * 1000, 10)
        line.check(
            bool(native) and all(v is not None for v in rearmed.values()),
            "recovery",
            "every venue timer re-armed (Kraken's, which fired, too)",
        )
        time.sleep(HEALTHY_S / 2)
        survivors = stack.books()
        line.check(
            all(n > 0 for n in survivors.values()),
            "promise 3 after recovery",
            f"new orders rest untouched: {fmt_books(survivors)}",
        )

    def operator(self, *argv: str) -> int:
        """One `deadman` CLI command against the local API, its output in the timeline."""
        from deadman.edges.cli.main import main as deadman

        self.line.say("$ deadman " + " ".join(f'"{a}"' if " " in a else a for a in argv))
        code = deadman([*argv, "--endpoint", self.api_url])
        self.line.say(f"  (exit {code})")
        return code

    def incident(self) -> None:
        """Promise 4: kill latches. The trader is alive and keeps beating; nothing is extended
        after the kill is acknowledged, and every tick sweeps until an operator arms again."""
        stack, line = self.stack, self.line
        code = self.operator("kill", "--reason", "incident 42: runaway trader")
        acked = time.time() * 1000
        line.check(
            code == 0 and all(n == 0 for n in stack.books().values()), "promise 4 (kill)", "every book empty"
        )
        at_ack = stack.timers()
        self.trader.rest_orders(1)
        line.say("the live trader rests new orders anyway")
        emptied = wait_each(stack, self.keys, lambda k: stack.books()[k] == 0, 10)
        time.sleep(2 * self.sandbox.tick_s)
        not_pushed = all((at or 0) <= max(at_ack[k] or 0, acked) for k, at in stack.timers().items())
        line.check(
            all(v is not None for v in emptied.values()) and not_pushed,
            "promise 4 (kill latches)",
            "orders rested after the kill were swept; no venue timer pushed after the ack",
        )
        # Read before the arm: it asks the table for every switch, seconds with eight of them, and the
        # clock below must start when the arm answers.
        native = self.native()
        before = stack.timers()
        self.operator("arm", "--reason", "incident 42 resolved")
        armed_at = time.monotonic()
        # A new extension, not the timer the kill left running: each must move past that one.
        # One reading of every timer per polling round: read again for each switch, the timers of
        # the last ones were seen only after every venue had been asked (seconds, with seven).
        seen: dict[str, Any] = {"at": 0.0, "timers": {}}

        def moved(k: tuple[str, str]) -> bool:
            if time.monotonic() - seen["at"] > 0.015:
                seen["at"], seen["timers"] = time.monotonic(), stack.timers()
            return bool((seen["timers"][k] or 0) > max(before[k] or 0, time.time() * 1000))

        rearmed = wait_each(stack, native, moved, 10)
        took = {k: None if when is None else when - armed_at for k, when in rearmed.items()}
        slowest = (
            None if None in took.values() else max((x for x in took.values() if x is not None), default=None)
        )
        last = next((f"{v}/{a}" for (v, a), x in took.items() if x is None or x == slowest), "-")
        line.check(
            slowest is not None and slowest <= self.sandbox.grace_s,
            "arm",
            f"switches extend again within one tick gap (every venue timer moved past the one the kill "
            f"left, the last, {last}, {fmt_s(slowest)} after the arm)",
        )

    def maintenance(self) -> None:
        """Promise 5: disarm expires. While disarmed the trader may stop without its orders being
        swept; when the disarm ends the switches re-arm by themselves and sweep the dead trader."""
        stack, line = self.stack, self.line
        self.trader.rest_orders(1)
        disarm_s = 6
        code = self.operator("disarm", "--for", f"{disarm_s}s", "--reason", "planned restart")
        ends = time.monotonic() + disarm_s
        deferred = time.time() * 1000 + disarm_s * 1000 + self.timing.native_bound_ms
        timers = stack.timers()
        deferrable = [k for k in self.native() if stack.sims[k[0]].RULES.timer_switches_off]
        # Within 3 s of the end + S + T + G; a venue that aims its countdown early so that it fires by
        # the deadline however slow the request (Binance, by its recvWindow) sets it up to its minimum
        # lead earlier, still well after the disarm's end.
        early = {k: CAPABILITIES[k[0]].min_lead_ms for k in deferrable}
        line.check(
            code == 0
            and bool(deferrable)
            and all(
                deferred - early[k] - 3_000 <= (timers[k] or 0) <= deferred + 3_000
                and (timers[k] or 0) > deferred - self.timing.native_bound_ms
                for k in deferrable
            ),
            "disarm",
            f"venue timers ({', '.join(f'{v}/{a}' for v, a in deferrable)}) deferred to the disarm's end "
            "+ S + T + G: the books stay protected should the fleet be gone when it ends (a timer that "
            "cannot be switched off, Gemini's, is fed by heartbeats instead)",
        )
        self.trader.writer.stop_running()
        line.say("trader stops for its restart (state=stopped) during the disarm")
        time.sleep(max(0.0, ends - time.monotonic() - 1))
        line.check(
            all(n > 0 for n in stack.books().values()),
            "promise 5 (disarmed: no sweep)",
            f"books untouched while disarmed: {fmt_books(stack.books())}",
        )
        emptied = wait_each(stack, self.keys, lambda k: stack.books()[k] == 0, 15)
        line.check(
            all(v is not None for v in emptied.values()),
            "promise 5 (disarm expires)",
            "the disarm ended by itself: switches re-armed, saw the trader stopped, swept every book",
        )
        self.operator("status")


def main() -> int:
    line = Timeline()
    with Stack(SandboxTiming()) as stack:
        story = Story(stack, line)
        story.setup()
        story.healthy()
        story.death()
        story.recovery()
        with LocalApi(stack.env) as api:
            story.api_url = api.url
            story.incident()
            story.maintenance()
    if line.broken:
        print(f"\nDEMO FAILED: {len(line.broken)} promise(s) broken", file=sys.stderr)
        for item in line.broken:
            print(f"  - {item}", file=sys.stderr)
        return 1
    print("\nDEMO OK: every promise held")
    return 0


def fmt_s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f}s"


def venue_timer_fires(stack: Stack) -> int:
    return sum(stack.sims[venue].timer_fires() for venue in stack.venues)


def fmt_books(books: dict[tuple[str, str], Any]) -> str:
    return ", ".join(f"{v}/{a}={n}" for (v, a), n in books.items())


if __name__ == "__main__":
    sys.exit(main())
