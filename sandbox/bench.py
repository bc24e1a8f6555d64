"""The sandbox's part of `make bench`: whatever needs moto and the venue simulators. Printed, never
asserted. Runs in the project's `.venv`; `make bench` (`python -m bench`, in `.venv-bench`) calls it.

`python -m sandbox.bench [MODE] [options]`, MODE one of:
- `ticks` (default): per venue, over N healthy ticks in this process: one tick's wall time, the AWS
  calls one tick makes (operation, and whether a DynamoDB read is strongly consistent), the venue
  requests it makes, the custom metric series a healthy tick publishes, the venue's accounts;
  `--json -` prints one JSON line.
- `serve`: start moto and every venue's simulator, provision a pool of bench accounts on every venue
  (plus keys of their own for the ccxt / SDK equivalents) and an SNS topic, print one JSON line with
  the endpoints, then answer one-line commands on stdin (`counts`, `rest`, `latency S`) until EOF
  (sandbox/bench_server.py).
  The bench's workers (`bench/worker.py`, `bench/tickcpu.py`) run in processes of their own against
  it, so their CPU time and peak RSS are theirs alone.
- `kill`: kill latency, request to every book empty, every venue: the parallel sweep (deadman's
  own) against the same sweeps one after another, interleaved, at simulated venue round trips.
- `reaction`: after the trader dies, per venue, until its books are empty: with the fleet running
  (the watchdog) and with the fleet gone too (the venues' own timers), against the stated bounds.
- `dashboard`: a short run with a venue fault and a trader death, every metric recorded with its time
  (the CloudWatch dashboard's picture is drawn from these by bench/charts.py).

Why this file is long: every `deadman` import of the bench's sandbox side is in this module
(`_deadman()` and `ticks()`), so that a reorganised package is repointed here only; the server that
needs none is sandbox/bench_server.py.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sandbox.bench_server import bench_stack
from sandbox.stack import SandboxTiming, Stack

_DEFAULT_DIMENSIONS = ("service", "venue")  # Powertools' service + the refresher's default dimension


class AwsCallCounter:
    """Counts the functions' AWS calls (their lean client's) and their venue requests made while
    `counting(venue)` is active, on any thread, under that venue."""

    def __init__(self) -> None:
        self.calls: dict[str, Counter[str]] = {}
        self.venue_calls: Counter[str] = Counter()
        self._venue: str | None = None

    def install(self) -> None:
        from bench.ours import count_calls

        count_calls(on_aws=self._on_call, on_venue=self._on_venue)

    def _on_call(self, name: str) -> None:
        if self._venue is not None:
            self.calls.setdefault(self._venue, Counter())[name] += 1

    def _on_venue(self) -> None:
        if self._venue is not None:
            self.venue_calls[self._venue] += 1

    @contextmanager
    def counting(self, venue: str) -> Iterator[None]:
        self._venue = venue
        try:
            yield
        finally:
            self._venue = None


def _timed_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _mute(*_a: Any, **_k: Any) -> None:
    pass


# -- ticks ------------------------------------------------------------------------------------------


# Production ticks are T (10 s) apart. Here a venue's tick starts a second at least after its
# previous one ended, not back to back: a key with time-based nonces (Gemini's) takes one request per
# whole second, and OKX one cancel-all-after a second per scope. Counted from the end of the previous
# tick (a round padded to a second is not enough: the ticks before it in the round vary). Venues tick
# in turn, so the spacing costs about a second a round, not one per venue (the wait is not timed).
TICK_SPACING_S = 1.05


def ticks(rounds: int = 30) -> dict[str, dict[str, Any]]:
    from deadman.core.clock import system_clock
    from deadman.core.metrics import ListMetrics
    from deadman.edges.wiring import refresher_from_env
    from sandbox.trader import ToyTrader

    counter = AwsCallCounter()
    out: dict[str, dict[str, Any]] = {}
    with bench_stack() as stack:
        counter.install()  # after the stack pointed boto3 at moto; clients made later are hooked
        accounts = {v: len(stack.secret_values()[v]["accounts"]) for v in stack.venues}
        trader = ToyTrader(stack)
        metrics = {venue: ListMetrics() for venue in stack.venues}
        refreshers = {
            venue: refresher_from_env(venue, clock=system_clock, metrics=metrics[venue], log=_mute)
            for venue in stack.venues
        }
        trader.beat()
        for refresher in refreshers.values():
            refresher.tick()  # first tick: secret fetch, first venue call; not a steady-state tick
        for sink in metrics.values():
            sink.records.clear()
        samples: dict[str, list[float]] = {venue: [] for venue in stack.venues}
        ended = dict.fromkeys(stack.venues, time.monotonic())
        for _ in range(rounds):
            for venue, refresher in refreshers.items():
                time.sleep(max(0.0, ended[venue] + TICK_SPACING_S - time.monotonic()))
                trader.beat()
                with counter.counting(venue):
                    samples[venue].append(_timed_ms(refresher.tick))
                ended[venue] = time.monotonic()
        for venue in stack.venues:
            timed = sorted(samples[venue])
            series = {
                (name, tuple(sorted({*dims, *_DEFAULT_DIMENSIONS})))
                for name, _value, dims in metrics[venue].records
            }
            calls = counter.calls.get(venue, Counter())
            out[venue] = {
                "accounts": accounts[venue],
                "tick_ms_median": statistics.median(timed),
                "tick_ms_p95": timed[max(0, int(len(timed) * 0.95) - 1)],
                "aws_calls_per_tick": {k: v / rounds for k, v in sorted(calls.items())},
                # Requests to the venue: AWS does not bill them, but a venue with a timer per symbol or
                # market (Binance, Gate) makes several a tick.
                "venue_calls_per_tick": counter.venue_calls[venue] / rounds,
                "metric_series": sorted(f"{name}[{','.join(dims)}]" for name, dims in series),
            }
    return out


# -- kill latency -----------------------------------------------------------------------------------


class _Serial:
    """The kill's `Parallel` seam run one job after another: the same sweeps, serially."""

    def run(self, jobs: Sequence[Callable[[], Any]], deadline_ms: int | None = None) -> list[Any]:
        return [_deadman().attempt(job) for job in jobs]


def _deadman() -> Any:
    """The deadman names the sandbox bench uses beyond `ticks()` (one place to repoint them)."""
    from types import SimpleNamespace

    from deadman.app.control import Caller
    from deadman.core.clock import system_clock
    from deadman.core.concurrency import attempt
    from deadman.core.metrics import ListMetrics
    from deadman.core.policy import Timing, reaction_bounds
    from deadman.edges.wiring import control_from_env, refresher_from_env
    from deadman.venues import CAPABILITIES

    return SimpleNamespace(
        Caller=Caller,
        attempt=attempt,
        ListMetrics=ListMetrics,
        Timing=Timing,
        control_from_env=control_from_env,
        CAPABILITIES=CAPABILITIES,
        reaction_bounds=reaction_bounds,
        refresher_from_env=refresher_from_env,
        system_clock=system_clock,
    )


def _watch_books(stack: Stack, start: float, timeout_s: float) -> tuple[list[float | None], threading.Thread]:
    """Watch the books from a thread (every 2 ms, straight from the simulators): the list's one item
    becomes the seconds from `start` until every book is empty."""
    result: list[float | None] = [None]

    def watch() -> None:
        while time.perf_counter() < start + timeout_s:
            if not any(stack.books().values()):
                result[0] = time.perf_counter() - start
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, name="bench-books", daemon=True)
    thread.start()
    return result, thread


def _time_nonces_caught_up(stack: Any, nonces: Any) -> None:
    """A round spends several nonces on a time-based key (the trader's orders, the kill's calls) in
    about a second, and such a key takes one a second: left alone, its shared counter runs ahead of
    the clock round after round until, 30 s ahead, the client refuses the kill's nonces
    (`nonce_ahead`) - which measures the bench's pace, not the kill. So the kill waits until each
    counter is back at the clock, as on a key used within the venue's rate."""
    for sim in stack.sims.values():
        for key_id in sim.time_nonce_keys():
            drawn = nonces.next(key_id, sim.now_ms() // 1000)
            while sim.now_ms() // 1000 <= drawn:
                time.sleep(0.05)


def kill_latency(rounds: int, latencies_s: Sequence[float]) -> dict[str, Any]:
    """Per simulated venue round trip: kill() wall time and request-to-books-empty, parallel vs serial."""
    from sandbox.trader import ToyTrader

    dm = _deadman()
    out: dict[str, Any] = {"rounds": rounds, "by_latency": {}}
    with bench_stack() as stack:
        trader = ToyTrader(stack)
        trader.beat()
        modes = {
            "parallel": dm.control_from_env(stack.env),
            "serial": dm.control_from_env(stack.env, parallel=_Serial()),
        }
        caller = dm.Caller("bench")
        for latency in latencies_s:
            for sim in stack.sims.values():
                sim.faults.latency_s = 0.0
            empty_s: dict[str, list[float]] = {m: [] for m in modes}
            call_s: dict[str, list[float]] = {m: [] for m in modes}
            swept_ok: dict[str, int] = dict.fromkeys(modes, 0)
            failures: list[str] = []
            names = list(modes)
            for r in range(rounds + 1):  # round 0 warms clients and the secret cache, not counted
                for name in names[r % 2 :] + names[: r % 2]:
                    for sim in stack.sims.values():
                        sim.faults.latency_s = 0.0
                    trader.rest_orders(2)
                    assert all(stack.books().values()), "orders did not rest"
                    # The Gemini "timed" key takes one nonce per whole second, shared with the trader
                    # that just rested orders: the kill comes in the next second, as it would.
                    time.sleep(1.05)
                    _time_nonces_caught_up(stack, trader.nonces)
                    for sim in stack.sims.values():
                        sim.faults.latency_s = latency
                    start = time.perf_counter()
                    seen, watcher = _watch_books(stack, start, 30)
                    result = modes[name].kill(
                        reason="bench", venues=None, accounts=None, caller=caller, budget_ms=24_000
                    )
                    returned = time.perf_counter() - start
                    watcher.join(timeout=30)
                    if r == 0:
                        continue
                    swept_ok[name] += int(bool(result.ok))
                    if not result.ok:
                        failures.append(f"{name}: {result.message}")
                    call_s[name].append(returned)
                    if seen[0] is not None:
                        empty_s[name].append(seen[0])
            out["by_latency"][f"{latency:g}"] = {
                "latency_s": latency,
                "targets": len(stack.books()),
                "venues": len(stack.venues),
                "empty_ms_median": {
                    m: statistics.median(v) * 1000 if v else None for m, v in empty_s.items()
                },
                "call_ms_median": {m: statistics.median(v) * 1000 for m, v in call_s.items()},
                "kills_ok": swept_ok,
                "failures": failures[:4],
            }
        for sim in stack.sims.values():
            sim.faults.latency_s = 0.0
    return out


# -- reaction after death ---------------------------------------------------------------------------


def _bounds(stack: Stack) -> dict[str, Any]:
    dm = _deadman()
    t = stack.timing
    timing = dm.Timing(
        max_staleness_ms=int(t.max_staleness_s * 1000),
        tick_ms=int(t.tick_s * 1000),
        grace_ms=int(t.grace_s * 1000),
        skew_ms=int(t.skew_s * 1000),
    )
    return {v: dm.reaction_bounds(timing, dm.CAPABILITIES[v]) for v in stack.venues}


def _wait_each(
    stack: Stack, keys: list[tuple[str, str]], timeout_s: float, every_s: float = 0.02
) -> dict[tuple[str, str], float | None]:
    seen: dict[tuple[str, str], float | None] = dict.fromkeys(keys)
    deadline = time.time() + timeout_s
    while time.time() < deadline and any(v is None for v in seen.values()):
        books = stack.books()
        for key in keys:
            if seen[key] is None and books[key] == 0:
                seen[key] = time.time()
        time.sleep(every_s)
    return seen


def _one_death(fleet_survives: bool) -> dict[str, Any]:
    from sandbox.trader import ToyTrader

    with bench_stack() as stack:
        bounds = _bounds(stack)
        trader = ToyTrader(stack)
        try:
            trader.start_beating(0.5)
            trader.rest_orders(2)
            stack.start_scheduler()
            keys = list(stack.books())
            ready = stack.wait_for(
                lambda: all(stack.switch(v, a).last_tick_ms is not None for v, a in keys), 20
            )
            time.sleep(2 * stack.timing.tick_s)  # a few healthy ticks: every timer armed
            if not fleet_survives:
                # The venues' own timers only: the accounts under Hyperliquid's volume gate have none,
                # nor does a venue with no timer (with the fleet gone nothing protects its book).
                keys = [
                    k
                    for k in keys
                    if bounds[k[0]].native_ms is not None and stack.switch(*k).native_available
                ]
                assert stack.scheduler is not None
                stack.scheduler.stop()
            last_beat_ms = trader.die()
            timeout = max((b.longest_ms if not fleet_survives else b.watchdog_ms) for b in bounds.values())
            emptied = _wait_each(stack, keys, timeout / 1000 + 10)
        finally:
            trader.writer.stop()
        per_account = {
            f"{v}/{a}": None if when is None else when * 1000 - last_beat_ms
            for (v, a), when in emptied.items()
        }
        return {
            "ready": ready is not None,
            "per_account_ms": per_account,
            # With the fleet gone, a venue with no timer has no bound (None): nothing protects its book.
            "bound_ms": {v: (b.watchdog_ms if fleet_survives else b.native_ms) for v, b in bounds.items()},
        }


def reaction(runs: int, native: bool) -> dict[str, Any]:
    t = SandboxTiming()
    out: dict[str, Any] = {
        "timing_s": {"S": t.max_staleness_s, "T": t.tick_s, "G": t.grace_s, "K": t.skew_s},
        "watchdog": [_one_death(True) for _ in range(runs)],
    }
    if native:
        out["native"] = [_one_death(False)]
    return out


# -- dashboard run ----------------------------------------------------------------------------------


def dashboard_run(healthy_s: float, fault_s: float, dead_s: float, back_s: float) -> dict[str, Any]:
    """A refresher per venue ticking every T in this process, each with a recording sink: healthy,
    the first venue's outage (Kraken's, HTTP 503), healthy, the trader dead, the trader back. Records
    (t, name, value, venue/system).

    The venues are the interactive sandbox's (`Stack()`'s default, `sandbox_venues`), not every
    venue as elsewhere in the bench: this run is a picture of a deployment's dashboard, and a venue
    whose timer's rate limit the compressed 1 s tick uses up (`Rules.min_tick_s`) would draw
    rate-limit failures there that a deployed tick (T 10 s) never meets."""
    from sandbox.trader import ToyTrader

    dm = _deadman()
    records: list[tuple[float, str, float, dict[str, str]]] = []
    lock = threading.Lock()
    phases: list[tuple[float, str]] = []
    with Stack() as stack:
        start = time.time()

        class Recorder:
            def __init__(self, venue: str) -> None:
                self.venue = venue

            def count(self, name: str, value: float = 1, **dims: str) -> None:
                with lock:
                    records.append((time.time() - start, name, value, {"venue": self.venue, **dims}))

            def gauge(self, name: str, value: float, unit: str = "Seconds", **dims: str) -> None:
                self.count(name, value, **dims)

        trader = ToyTrader(stack)
        stop = threading.Event()
        tick_s = stack.timing.tick_s

        def loop(venue: str) -> None:
            refresher = dm.refresher_from_env(
                venue, clock=dm.system_clock, metrics=Recorder(venue), log=_mute
            )
            next_at = time.time()
            while not stop.is_set():
                refresher.tick()
                next_at += tick_s
                stop.wait(max(0.0, next_at - time.time()))

        try:
            trader.start_beating(0.5)
            trader.rest_orders(2)
            threads = [threading.Thread(target=loop, args=(v,), daemon=True) for v in stack.venues]
            for thread in threads:
                thread.start()
            phases.append((time.time() - start, "healthy"))
            time.sleep(healthy_s)
            outage = stack.venues[0]
            stack.sims[outage].faults.http_5xx = 503
            phases.append((time.time() - start, f"{outage} 503s"))
            time.sleep(fault_s)
            stack.sims[outage].faults.http_5xx = None
            phases.append((time.time() - start, "healthy"))
            time.sleep(healthy_s / 2)
            trader.die()
            phases.append((time.time() - start, "trader dead"))
            time.sleep(dead_s)
            trader.start_beating(0.5)
            phases.append((time.time() - start, "trader back"))
            time.sleep(back_s)
        finally:
            stop.set()
            trader.writer.stop()
        for thread in threads:
            thread.join(timeout=10)
        end = time.time() - start
    return {
        "tick_s": tick_s,
        "venues": list(stack.venues),
        "duration_s": end,
        "phases": phases,
        "records": [[round(t, 3), name, value, dims] for t, name, value, dims in records],
    }


# -- main -------------------------------------------------------------------------------------------


def collect(rounds: int) -> dict[str, Any]:
    return {
        "rounds": rounds,
        "ticks": ticks(rounds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "python": sys.version.split()[0],
    }


def _print_ticks(figures: dict[str, Any]) -> None:
    print(f"one healthy refresher tick against the simulators + moto, {figures['rounds']} rounds:")
    for venue, t in figures["ticks"].items():
        calls = ", ".join(f"{k} {v:g}" for k, v in t["aws_calls_per_tick"].items())
        print(
            f"  {venue:<12} {t['accounts']} account(s)  median {t['tick_ms_median']:6.1f} ms"
            f"  p95 {t['tick_ms_p95']:6.1f} ms  AWS calls/tick: {calls}; venue calls/tick:"
            f" {t['venue_calls_per_tick']:g}"
        )
        print(f"  {'':<12} metric series: {len(t['metric_series'])}: {', '.join(t['metric_series'])}")
    print(f"peak RSS of this process (everything imported, stack run): {figures['peak_rss_mb']:.0f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "mode", nargs="?", default="ticks", choices=["ticks", "serve", "kill", "reaction", "dashboard"]
    )
    parser.add_argument("--rounds", type=int, default=30, help="ticks: ticks per venue; kill: kills per mode")
    parser.add_argument("--pool", type=int, default=100, help="serve: bench accounts per venue")
    parser.add_argument(
        "--latency", default="0,0.05", help="kill: simulated venue round trips (s), comma-separated"
    )
    parser.add_argument("--runs", type=int, default=2, help="reaction: deaths with the fleet running")
    parser.add_argument("--no-native", action="store_true", help="reaction: skip the fleet-gone run")
    parser.add_argument("--json", help="write the figures as JSON to this path ('-' for stdout only)")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        from sandbox.bench_server import serve

        serve(args.pool)
        return
    figures: dict[str, Any]
    if args.mode == "kill":
        figures = kill_latency(args.rounds, [float(x) for x in args.latency.split(",")])
    elif args.mode == "reaction":
        figures = reaction(args.runs, not args.no_native)
    elif args.mode == "dashboard":
        figures = dashboard_run(healthy_s=8, fault_s=4, dead_s=10, back_s=6)
    else:
        figures = collect(args.rounds)
    if args.json == "-":
        print(json.dumps(figures))
        return
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)
    if args.mode == "ticks":
        _print_ticks(figures)
    else:
        print(json.dumps(figures, indent=1)[:4000])


if __name__ == "__main__":
    main()
