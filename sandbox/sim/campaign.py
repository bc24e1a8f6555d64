"""The fault campaign: scenarios from a seed, faults from every layer, the six promises checked.

scenario.py draws a scenario, run.py runs it (checks.py at every step, verdicts.py after),
this module runs thousands of them side by side and sums them up.

`run_scenario(seed)` builds one scenario from the seed alone (venue, accounts, the trader's story,
one or two faults, operator actions, scheduler and Lambda mishaps), runs the real fleet over it in
virtual time at production timing, and checks the promises at every 200 ms of virtual time. The
same seed gives the same run, byte for byte (`Result.trace`).

`python -m sandbox.sim.campaign --scenarios N [--seed S] [--workers W] [--venue V]` runs a campaign
(every scenario on venue V when given) and ends
with the line `campaign: <N> scenarios, <F> faults, <C> checks, <V> violations`.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections import Counter
from typing import Any

from deadman.core.policy import NO_NATIVE_TIMER, reaction_bounds
from deadman.venues import CAPABILITIES
from sandbox.sim.faults import ALL_KINDS
from sandbox.sim.run import run_scenario
from sandbox.sim.scenario import TIMING
from sandbox.venues.registry import VENUES

# From this many scenarios on, a fault kind that never acted fails the campaign.
NEVER_FIRED_FROM = 1_000


def _run_many(seeds: list[int], hazard_share: float = 0.35, venue: str | None = None) -> list[dict[str, Any]]:
    out = []
    for seed in seeds:
        r = run_scenario(seed, hazard_share, venue)
        out.append(
            {
                "seed": seed,
                "venue": r.scenario.venue,
                "hazard": r.scenario.hazard,
                "faults": [f.kind for f in r.scenario.faults]
                + (["lambda_crash"] if r.scenario.crash else []),
                "fault_events": r.faults,
                "fired": dict(r.fired),
                "checks": r.checks,
                "violations": [v.line() for v in r.violations],
                "reactions": r.reactions,
                "clean_reactions": r.clean_reactions,
                "trace": r.trace if r.violations else [],
            }
        )
    return out


def campaign(
    n: int, seed: int = 0, workers: int = 2, hazard_share: float = 0.35, venue: str | None = None
) -> dict[str, Any]:
    seeds = list(range(seed, seed + n))
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        chunks = [seeds[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            parts = pool.map(_run_many, chunks, [hazard_share] * workers, [venue] * workers)
            rows = [row for part in parts for row in part]
    else:
        rows = _run_many(seeds, hazard_share, venue)
    rows.sort(key=lambda r: r["seed"])
    kinds: Counter[str] = Counter(k for r in rows for k in r["faults"])
    fired: Counter[str] = Counter()
    for r in rows:
        fired.update(r["fired"])
    hazards: Counter[str] = Counter(r["hazard"] for r in rows if r["hazard"])
    reactions: dict[str, list[int]] = {v: [] for v in VENUES}
    clean: dict[str, list[int]] = {v: [] for v in VENUES}
    for r in rows:
        reactions[r["venue"]].extend(r["reactions"])
        clean[r["venue"]].extend(r["clean_reactions"])
    return {
        "scenarios": len(rows),
        "faults": sum(len(r["faults"]) for r in rows),
        "fault_events": sum(r["fault_events"] for r in rows),
        "fault_kinds": dict(sorted(kinds.items())),
        # How often each kind acted on the world; a kind that never did is a campaign bug.
        "fired": {k: fired.get(k, 0) for k in sorted(ALL_KINDS)},
        "never_fired": sorted(k for k in ALL_KINDS if not fired.get(k)),
        "hazards": dict(sorted(hazards.items())),
        "checks": sum(r["checks"] for r in rows),
        "violations": [
            dict(seed=r["seed"], lines=r["violations"], trace=r["trace"]) for r in rows if r["violations"]
        ],
        "reactions": {v: _percentiles(x) for v, x in reactions.items()},
        "clean_reactions": {v: _percentiles(x) for v, x in clean.items()},
        "bounds": {v: vars(reaction_bounds(TIMING, CAPABILITIES[v])) for v in VENUES},
    }


def _percentiles(values: list[int]) -> dict[str, float] | None:
    if not values:
        return None
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return {
        "n": len(values),
        "p50_s": statistics.median(values) / 1000,
        "p99_s": p99 / 1000,
        "max_s": values[-1] / 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="write the report here")
    parser.add_argument(
        "--hazard-share", type=float, default=0.35, help="the share of scenarios that follow a hazard recipe"
    )
    parser.add_argument("--venue", choices=VENUES, help="run every scenario on this venue")
    args = parser.parse_args(argv)
    # The stores log an answer about another item (a damaged answer the campaign injects): quiet.
    logging.getLogger("deadman").setLevel(logging.ERROR)
    started = time.monotonic()
    report = campaign(args.scenarios, args.seed, args.workers, args.hazard_share, args.venue)
    for v in report["violations"][:10]:
        print(f"seed {v['seed']}:")
        for line in v["lines"]:
            print(f"  {line}")
        for line in v["trace"][:30]:
            print(f"    | {line}")
    print("faults by kind:", json.dumps(report["fault_kinds"]))
    print("times each kind acted:", json.dumps(report["fired"]))
    print("hazard recipes:", json.dumps(report["hazards"]))
    for venue in VENUES:
        b = report["bounds"][venue]
        # A venue with no timer is held to the watchdog bound under every fault the fleet rides out.
        against = (
            f"the native bound {b['native_ms'] / 1000:g}s"
            if b["native_ms"] is not None
            else f"the watchdog bound {b['watchdog_ms'] / 1000:g}s (native: {NO_NATIVE_TIMER})"
        )
        print(
            f"{venue}: reaction, no fault near the death {json.dumps(report['clean_reactions'][venue])} "
            f"against the watchdog bound {b['watchdog_ms'] / 1000:g}s; every death "
            f"{json.dumps(report['reactions'][venue])} against {against}"
        )
    print(f"elapsed {time.monotonic() - started:.0f}s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    violations = sum(len(v["lines"]) for v in report["violations"])
    # Every fault kind must act in a run this size: one that never does tests nothing.
    # (On one venue, the kinds of the others cannot act: the rule is for the whole mix.)
    idle = report["never_fired"] if report["scenarios"] >= NEVER_FIRED_FROM and not args.venue else []
    if idle:
        print(f"fault kinds that never acted in {report['scenarios']} scenarios: {', '.join(idle)}")
    print(
        f"campaign: {report['scenarios']} scenarios, {report['faults']} faults, {report['checks']} checks, "
        f"{violations} violations"
    )
    return 1 if violations or idle else 0


if __name__ == "__main__":
    sys.exit(main())
