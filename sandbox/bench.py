"""What a refresher costs per tick, measured against the sandbox (moto + the venue simulators).

`python -m sandbox.bench [--rounds N] [--json PATH|-]`: printed, never asserted. Runs in the
project's `.venv` (moto, the simulators); `make bench` (`python -m bench`) calls it and merges the
figures with the side-by-side comparisons it runs in `.venv-bench`.

Per venue, over N healthy ticks (the toy trader beats before each):
- one tick's wall time, median and p95;
- the AWS calls one tick makes (counted on boto3's default session: operation, and whether a
  DynamoDB read is strongly consistent), which the cost model turns into request units;
- the custom metrics a healthy tick publishes (metric name x dimension set, each billed monthly);
- the venue's accounts in the sandbox (the calls scale with them).
Plus the peak RSS of this process.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_DEFAULT_DIMENSIONS = ("service", "venue")  # Powertools' service + the refresher's default dimension


class AwsCallCounter:
    """Counts boto3 calls made while `counting()` is active, on any thread."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._active = threading.Event()

    def install(self) -> None:
        import boto3

        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-parameter-build", self._on_call)

    def _on_call(self, model: Any = None, params: Any = None, **_: Any) -> None:
        if not self._active.is_set() or model is None:
            return
        service = str(model.service_model.service_name)
        name = f"{service}.{model.name}"
        if isinstance(params, dict) and params.get("ConsistentRead"):
            name += "(strong)"
        self.calls[name] += 1

    @contextmanager
    def counting(self) -> Iterator[None]:
        self._active.set()
        try:
            yield
        finally:
            self._active.clear()


def _timed_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def ticks(rounds: int = 30) -> dict[str, dict[str, Any]]:
    from deadman.core.clock import system_clock
    from deadman.core.metrics import ListMetrics
    from deadman.edges.wiring import refresher_from_env
    from sandbox.stack import Stack
    from sandbox.trader import ToyTrader

    counter = AwsCallCounter()
    out: dict[str, dict[str, Any]] = {}
    with Stack() as stack:
        counter.install()  # after the stack pointed boto3 at moto; clients made later are hooked
        accounts = {v: len(stack.secret_values()[v]["accounts"]) for v in stack.venues}
        trader = ToyTrader(stack)
        for venue in stack.venues:
            metrics = ListMetrics()
            refresher = refresher_from_env(
                venue, clock=system_clock, metrics=metrics, log=lambda *a, **k: None
            )
            trader.beat()
            refresher.tick()  # first tick: secret fetch, first venue call; not a steady-state tick
            metrics.records.clear()
            counter.calls.clear()
            samples = []
            for _ in range(rounds):
                trader.beat()
                with counter.counting():
                    samples.append(_timed_ms(refresher.tick))
            samples.sort()
            series = {
                (name, tuple(sorted({*dims, *_DEFAULT_DIMENSIONS}))) for name, _value, dims in metrics.records
            }
            out[venue] = {
                "accounts": accounts[venue],
                "tick_ms_median": statistics.median(samples),
                "tick_ms_p95": samples[max(0, int(len(samples) * 0.95) - 1)],
                "aws_calls_per_tick": {k: v / rounds for k, v in sorted(counter.calls.items())},
                "metric_series": sorted(f"{name}[{','.join(dims)}]" for name, dims in series),
            }
    return out


def collect(rounds: int) -> dict[str, Any]:
    return {
        "rounds": rounds,
        "ticks": ticks(rounds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", help="write the figures as JSON to this path ('-' for stdout only)")
    args = parser.parse_args(argv)
    figures = collect(args.rounds)
    if args.json == "-":
        print(json.dumps(figures))
        return
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)
    print(f"one healthy refresher tick against the simulators + moto, {args.rounds} rounds:")
    for venue, t in figures["ticks"].items():
        calls = ", ".join(f"{k} {v:g}" for k, v in t["aws_calls_per_tick"].items())
        print(
            f"  {venue:<12} {t['accounts']} account(s)  median {t['tick_ms_median']:6.1f} ms"
            f"  p95 {t['tick_ms_p95']:6.1f} ms  AWS calls/tick: {calls}"
        )
        print(f"  {'':<12} metric series: {len(t['metric_series'])}: {', '.join(t['metric_series'])}")
    print(f"peak RSS of this process (everything imported, stack run): {figures['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
