"""`python -m sandbox.bench serve`: the endpoints the bench's workers run against (bench/runs.py).

moto and every venue's simulator (a `Stack`), a pool of bench accounts on every venue (`bench0`...: their
keys on the simulators, their secret entries in the JSON), keys of their own for the ccxt / SDK
equivalents (so that no nonce is shared with deadman's), an SNS topic for the notifier. One JSON line
with all of it on stdout, then one JSON line per command read from stdin (`counts`, `rest N`,
`latency S`) until EOF, when everything stops. No `deadman` import here.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from sandbox.stack import SYSTEM, SandboxTiming, Stack
from sandbox.venues.registry import VENUES
from sandbox.venues.simulator import AccountSpec


def bench_stack() -> Stack:
    """The stack the bench measures on, with every registered venue's refresher: the ones the
    interactive sandbox leaves out too. `sandbox_venues` drops a venue whose timer's rate limit a 1 s
    tick uses up (OKX: one call a second per scope) because a control's own timer call (a disarm, an
    arm) would be refused there; the bench makes none while a refresher runs. Its ticks and per-tick
    CPU space each venue's calls over a second apart; its kill runs no refresher; in its reaction run
    a refresher's extension may now and then meet that limit itself, which moves neither the sweep
    measured nor the timer's firing later (it stands from the extension before). So it measures every
    venue (tests/unit/test_registry.py: the bench measured it). Only the dashboard run, a picture of
    a deployment's metrics, keeps to the sandbox's venues (sandbox/bench.py `dashboard_run`)."""
    return Stack(SandboxTiming(), venues=VENUES)


# The alternatives bench/tickcpu.py runs (its THEIR_KEYS): two accounts of their own for each on every
# venue, one for the minimal equivalent and one (`-same`) for deadman's calls made with the library,
# so that neither shares the other's nonces or per-key limits (OKX: one timer call a second per
# scope). One a venue has no alternative for goes unused.
THEIRS = ("ccxt", "krakensdk", "hlsdk", "ccxt-same", "krakensdk-same", "hlsdk-same")


class BenchServer:
    """A Stack plus `pool` bench accounts per venue (`bench0`...), and keys for the alternatives."""

    def __init__(self, pool: int) -> None:
        self.pool = pool
        self.stack = bench_stack()

    def start(self) -> dict[str, Any]:
        import boto3

        stack = self.stack.start()
        pool: dict[str, list[dict[str, Any]]] = {venue: [] for venue in stack.venues}
        theirs: dict[str, dict[str, dict[str, Any]]] = {venue: {} for venue in stack.venues}
        for venue in stack.venues:
            sim = stack.sims[venue]
            for i in range(self.pool):
                pool[venue].append({**sim.provision(AccountSpec(f"bench{i}")), "base_url": sim.url})
            for impl in THEIRS:
                theirs[venue][impl] = sim.provision(AccountSpec(f"theirs-{impl}"))
        topic = boto3.client("sns").create_topic(Name="deadman-bench-alerts")["TopicArn"]
        return {
            "env": stack.env,
            "system": SYSTEM,
            "sims": {v: s.url for v, s in stack.sims.items()},
            "secret_arns": stack.secret_arns,
            "secret_values": stack.secret_values(),
            "pool": pool,
            "theirs": theirs,
            "topic_arn": topic,
        }

    def command(self, line: str) -> Any:
        from sandbox.trader import ToyTrader

        stack = self.stack
        word, _, arg = line.strip().partition(" ")
        if word == "counts":
            return {v: s.requests_seen for v, s in stack.sims.items()}
        if word == "rest":
            ToyTrader(stack).rest_orders(int(arg or 2))
            return {f"{v}/{a}": n for (v, a), n in stack.books().items()}
        if word == "latency":
            for sim in stack.sims.values():
                sim.faults.latency_s = float(arg)
            return {"latency_s": float(arg)}
        return {"error": f"unknown command {word!r}"}

    def stop(self) -> None:
        self.stack.stop()


def serve(pool: int) -> None:
    server = BenchServer(pool)
    try:
        print(json.dumps(server.start()), flush=True)
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(server.command(line)), flush=True)
    finally:
        server.stop()
